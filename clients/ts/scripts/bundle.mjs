// The browser build: one ESM file with everything in it, for a <script type="module">.
import { build } from "esbuild";

await build({
  entryPoints: ["src/index.ts"],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: true,
  outfile: "dist/corridor.browser.js",
});
