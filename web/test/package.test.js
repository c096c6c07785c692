// The library as a game gets it: npm pack, installed from the tarball into a fresh project whose
// tiny page imports it, bundled with esbuild and type-checked with tsc against the declarations.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const web = fileURLToPath(new URL("..", import.meta.url));
const bin = (name) => join(web, "node_modules", ".bin", name);
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

// What a game's protoc-gen-es output declares (target=dts) for its entity and input messages.
const GAME_DTS = `import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import type { Message } from "@bufbuild/protobuf";
export type Entity = Message<"game.v1.Entity"> & { x: number; y: number; heading: number; state: number };
export declare const EntitySchema: GenMessage<Entity>;
export type Input = Message<"game.v1.Input"> & { moveX: number; moveY: number; buttons: number };
export declare const InputSchema: GenMessage<Input>;
`;

const PAGE_TS = `import { TickrelayClient, Predictor, type EntityView } from "@tickrelay/client";
import { EntitySchema, InputSchema, type Entity } from "./game_pb.js";
const client = new TickrelayClient({
  url: "https://localhost:4433/play", entitySchema: EntitySchema, inputSchema: InputSchema,
  sample: () => ({ moveX: 1, moveY: 0, buttons: 0 }),
  onSnapshot({ view }) {
    const first: EntityView<Entity> | undefined = view[0];
    const x: number = view[0].x + view[0].heading;
    // @ts-expect-error: the arena's entity has no field "nope"
    view[0].nope;
    void first; void x;
  },
});
const p = new Predictor<{ x: number; y: number }, { moveX: number }>({ move: (s, i, dt) => ({ ...s, x: s.x + i.moveX * dt }), dt: 1 / 30 });
void client; void p;
`;

test("npm pack gives a package a page can install, bundle and type-check", { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "tickrelay-pack-"));
  try {
    const [{ filename, files }] = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", dir], web));
    const names = files.map((f) => f.path);
    for (const want of ["package.json", "src/index.js", "src/plan.js", "dist/index.d.ts", "dist/client.d.ts"]) {
      assert.ok(names.includes(want), `the tarball holds ${want}: ${names.join(" ")}`);
    }
    for (const f of names) assert.doesNotMatch(f, /^(test|static)\/|demo|graph|node_modules/, "no tests, demo or bundle");

    const app = join(dir, "app");
    run("mkdir", ["-p", app], dir);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "game", private: true, type: "module" }));
    run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(dir, filename)], app);
    const installed = JSON.parse(readFileSync(join(app, "node_modules/@tickrelay/client/package.json"), "utf8"));
    assert.equal(installed.name, "@tickrelay/client");

    writeFileSync(join(app, "page.js"), `export * from "@tickrelay/client";\n`);
    run(bin("esbuild"), ["page.js", "--bundle", "--format=esm", "--platform=browser", "--outfile=out.js"], app);
    const bundle = readFileSync(join(app, "out.js"), "utf8");
    assert.doesNotMatch(bundle, /WASD/, "the demo page stays out of the library");
    {
      const lib = await import(pathToFileURL(join(app, "out.js")).href);
      for (const name of ["TickrelayClient", "RefusedError", "Predictor", "Interpolator", "compileEntity", "compileInput",
        "applyDelta", "decodeSnapshot", "entityView", "quantizeInput", "CloseReason", "MAX_FIELDS"]) {
        assert.ok(name in lib, `the bundle exports ${name}`);
      }
      assert.equal(lib.fnv1a32(""), 0x811c9dc5);
      assert.equal(lib.reasonName(lib.CloseReason.SCHEMA_MISMATCH), "SCHEMA_MISMATCH");

      writeFileSync(join(app, "game_pb.d.ts"), GAME_DTS);
      writeFileSync(join(app, "page.ts"), PAGE_TS);
      writeFileSync(join(app, "tsconfig.json"), JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", lib: ["es2022", "dom"], skipLibCheck: true },
        files: ["page.ts"],
      }));
      try {
        run(bin("tsc"), ["-p", "tsconfig.json"], app);
      } catch (err) {
        assert.fail(`tsc: ${err.stdout}${err.stderr}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
