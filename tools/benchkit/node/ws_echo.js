// ws_echo.js: the node column of tools/bench's gateway rows. One process,
// node's event loop and the `ws` package (8.x, installed here by
// tools/benchkit/deps): every message comes back as it came (a direct echo, no
// hop); a text message "say TEXT" goes instead, as TEXT, to every client (the
// broadcast row), as tools/benchkit/ws_floor does.
//
// usage: node ws_echo.js PORT        (listens on 127.0.0.1:PORT)
'use strict';
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2]);
if (!(port > 0 && port < 65536)) {
  console.error('usage: node ws_echo.js PORT');
  process.exit(2);
}
// perMessageDeflate is off by default in ws 8; said here so that nobody wonders.
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, clientTracking: true });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.length > 4 && data.toString('latin1', 0, 4) === 'say ') {
      const text = data.subarray(4);
      for (const client of wss.clients) {
        if (client.readyState === WebSocket.OPEN) client.send(text, { binary: false });
      }
      return;
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on('error', () => {});  // a client that left: its close follows
});
wss.on('listening', () => console.error(`ws_echo: 127.0.0.1:${port}, node ${process.version}`));
process.on('SIGTERM', () => process.exit(0));
