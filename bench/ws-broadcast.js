// The `ws` library's broadcast recipe, as its README gives it: every message
// goes to every open client, the sender included. A benchmark peer; run by
// bench/run.sh with the `ws` package that bench/install-peers.sh installs.
const { WebSocketServer, WebSocket } = require("ws");

const port = Number(process.argv[2] || 8080);
const wss = new WebSocketServer({ host: "127.0.0.1", port });
wss.on("connection", (ws) => {
  ws.on("error", console.error);
  ws.on("message", (data, isBinary) => {
    wss.clients.forEach((client) => {
      if (client.readyState === WebSocket.OPEN) {
        client.send(data, { binary: isBinary });
      }
    });
  });
});
wss.on("listening", () => console.log(`listening on ws://127.0.0.1:${port}`));
