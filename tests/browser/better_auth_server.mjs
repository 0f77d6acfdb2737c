// A real Better Auth server (the npm package pinned in package.json) for
// test_better_auth.py: email and password sign-up, and the jwt() plugin with NO options, so
// its defaults are what the API must accept: EdDSA (Ed25519) keys published at
// /api/auth/jwks, tokens from /api/auth/token with iss = aud = baseURL and exp = iat + 900.
// In-memory storage: the memory adapter needs every model (table) declared up front.
// Listens on 127.0.0.1 on a free port and prints its baseURL as the first line on stdout.
// Usage: BETTER_AUTH_SECRET=... node better_auth_server.mjs
import http from "node:http";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { toNodeHandler } from "better-auth/node";
import { jwt } from "better-auth/plugins";

const server = http.createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const baseURL = `http://127.0.0.1:${server.address().port}`;

const auth = betterAuth({
  secret: process.env.BETTER_AUTH_SECRET,
  baseURL,
  database: memoryAdapter({ user: [], session: [], account: [], verification: [], jwks: [] }),
  emailAndPassword: { enabled: true },
  telemetry: { enabled: false },
  plugins: [jwt()],
});
server.on("request", toNodeHandler(auth));
console.log(baseURL);

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
