// Bundles the dashboard and the demo shop into dist/ (what the footfall binary embeds).
import { build } from "esbuild";
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: [join(here, "src/dashboard.js"), join(here, "src/shop.js")],
  bundle: true,
  splitting: true,
  format: "esm",
  minify: true,
  target: "es2022",
  outdir: join(dist, "assets"),
  chunkNames: "chunk-[hash]",
  logLevel: "warning",
});
for (const file of ["index.html", "shop.html", "style.css"]) {
  cpSync(join(here, "src", file), join(dist, file === "style.css" ? "assets/style.css" : file));
}

// A gzip copy of every text file, served to browsers that accept it (the page weighs a third).
const walk = (dir) => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]));
for (const file of walk(dist)) {
  if (/\.(js|css|html)$/.test(file)) writeFileSync(`${file}.gz`, gzipSync(readFileSync(file), { level: 9 }));
}
