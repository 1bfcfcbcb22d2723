// Benchmark peer: a chat server written the way the Socket.IO docs show one (rooms, private messages through a
// per-user room, the Redis adapter to run several processes). It stores nothing and acknowledges nothing.
// PORT and REDIS_URL come from the environment; /debug/memory answers heap and RSS after a forced GC (none with ?collect=false)
// (start node with --expose-gc).
const { createServer } = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const port = Number(process.env.PORT || 3000);
const redisUrl = process.env.REDIS_URL || "redis://127.0.0.1:6379";

const httpServer = createServer((req, res) => {
  if (req.url === "/debug/memory" || req.url === "/debug/memory?collect=false") {
    if (global.gc && req.url === "/debug/memory") global.gc();
    const m = process.memoryUsage();
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ gcHeapBytes: m.heapUsed + m.external, rssBytes: m.rss, connections: io.engine.clientsCount }));
    return;
  }
  res.writeHead(404);
  res.end();
});

const io = new Server(httpServer);

// Who the user is, and which rooms they are in, come with the connection (the docs' "auth" handshake payload).
io.use((socket, next) => {
  const { userId, rooms } = socket.handshake.auth || {};
  if (typeof userId !== "string" || userId.length === 0) return next(new Error("unauthorized"));
  socket.data.userId = userId;
  socket.data.rooms = Array.isArray(rooms) ? rooms : [];
  next();
});

io.on("connection", (socket) => {
  socket.join(socket.data.userId); // private messages go to the user's own room
  for (const room of socket.data.rooms) socket.join(room);

  socket.on("join", (room) => socket.join(room));

  socket.on("msg", ({ room, body }) => {
    io.to(room).emit("msg", { room, from: socket.data.userId, body, ts: Date.now() });
  });

  socket.on("dm", ({ to, body }) => {
    socket.to(to).to(socket.data.userId).emit("dm", { from: socket.data.userId, to, body, ts: Date.now() });
  });
});

async function main() {
  const pubClient = createClient({ url: redisUrl });
  const subClient = pubClient.duplicate();
  await Promise.all([pubClient.connect(), subClient.connect()]);
  io.adapter(createAdapter(pubClient, subClient));
  // Node's default accept queue (511) unless the benchmark asks for another (LISTEN_BACKLOG, an experiment).
  const backlog = Number(process.env.LISTEN_BACKLOG) || undefined;
  httpServer.listen({ port, host: "127.0.0.1", backlog }, () => console.log(`socket.io peer on ${port}`));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
