// The negative compile check of `make clients`: misuse.ts must fail to compile, and with
// exactly the errors its markers announce. Arguments (both optional): the source and its
// tsconfig in this directory, misuse.ts and tsconfig.misuse.json by default (openapi-typescript
// + openapi-fetch); misuse-hey-api.ts and tsconfig.misuse-hey-api.json check the SDK of
// @hey-api/openapi-ts. A marker is a comment line
//     // expect-error TS2322 "text the message must contain"
// (the quoted part, optional, runs to the last quote of the line) and applies to the next
// line. The check fails when tsc succeeds, when an expected error is missing, or when there
// is any other error.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const [sourceName = "misuse.ts", projectName = "tsconfig.misuse.json"] = process.argv.slice(2);
const source = join(here, sourceName);
const project = join(here, projectName);
const tsc = createRequire(import.meta.url).resolve("typescript/lib/tsc.js");

const marker = /^\s*\/\/ expect-error (TS\d+)(?: "(.+)")?\s*$/;
const expected = [];
readFileSync(source, "utf8")
  .split("\n")
  .forEach((text, index) => {
    const match = marker.exec(text);
    if (match) expected.push({ line: index + 2, code: match[1], text: match[2] ?? "" });
  });
if (expected.length === 0) {
  console.error(`${source}: no expect-error markers`);
  process.exit(1);
}

const run = spawnSync(
  process.execPath,
  [tsc, "-p", project, "--strict", "--noEmit", "--pretty", "false"],
  { encoding: "utf8" },
);
if (run.error) throw run.error;
const output = `${run.stdout}${run.stderr}`;

// file(line,col): error TSxxxx: message, with indented continuation lines.
const diagnostics = [];
for (const text of output.split("\n")) {
  const match = /^(.+)\((\d+),(\d+)\): error (TS\d+): (.*)$/.exec(text);
  if (match) {
    diagnostics.push({
      file: match[1],
      line: Number(match[2]),
      code: match[4],
      message: match[5],
    });
  } else if (text.trim() !== "" && diagnostics.length > 0) {
    diagnostics[diagnostics.length - 1].message += `\n${text}`;
  } else if (text.trim() !== "") {
    diagnostics.push({ file: "?", line: 0, code: "?", message: text });
  }
}

const problems = [];
if (run.status === 0) problems.push(`tsc compiled ${sourceName} without an error`);
const matches = (want, got) =>
  basename(got.file) === basename(source) &&
  got.line === want.line &&
  got.code === want.code &&
  got.message.includes(want.text);
for (const want of expected) {
  if (!diagnostics.some((got) => matches(want, got))) {
    const detail = want.text ? ` containing "${want.text}"` : "";
    problems.push(`missing: line ${want.line} ${want.code}${detail}`);
  }
}
for (const got of diagnostics) {
  if (!expected.some((want) => matches(want, got))) {
    problems.push(`unexpected: ${got.file}(${got.line}) ${got.code}: ${got.message}`);
  }
}

if (problems.length > 0) {
  console.error(`${sourceName} check FAILED:\n  ${problems.join("\n  ")}\n\ntsc output:\n${output}`);
  process.exit(1);
}
const found = expected.map((want) => `${want.code}@${want.line}`).join(", ");
console.log(`${sourceName} fails to compile as intended: ${found}`);
