// A dependency-free Node.js server; the Node.js buildpack runs `npm ci` and `npm start`.
const http = require("http");
const port = process.env.PORT || 5000;
http.createServer((req, res) => {
  res.writeHead(200, { "Content-Type": "text/plain" });
  res.end(`Hello from Node.js on dokkulite (${process.env.DYNO})\n`);
}).listen(port, () => console.log(`listening on ${port}`));
