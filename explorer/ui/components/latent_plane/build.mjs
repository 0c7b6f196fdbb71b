// Build the component: src/ -> build/ (committed, so users need no build step).
//
//   cd explorer/ui/components/latent_plane && npm ci && npm run build
//
// One ES module (build/latent_plane.js, minified, with no imports: Streamlit loads it as
// the component's script from the asset folder), the notebook widget's module from the same
// sources (build/widget.js: anywidget's entry, src/widget.js) and their style sheet
// (build/latent_plane.css, minified).
import { build } from "esbuild";
import { mkdirSync, statSync } from "node:fs";

mkdirSync("build", { recursive: true });
await build({
  entryPoints: ["src/index.js"],
  outfile: "build/latent_plane.js",
  bundle: true,
  format: "esm",
  minify: true,
  target: ["es2020"],
  legalComments: "none",
  banner: { js: "// Latent Explorer latent-plane component. Built from src/ by build.mjs; do not edit." },
});
// the notebook widget (anywidget): the same view and decoder behind anywidget's render({model, el})
await build({
  entryPoints: ["src/widget.js"],
  outfile: "build/widget.js",
  bundle: true,
  format: "esm",
  minify: true,
  target: ["es2020"],
  legalComments: "none",
  banner: { js: "// Latent Explorer notebook widget. Built from src/ by build.mjs; do not edit." },
});
await build({ entryPoints: ["src/style.css"], outfile: "build/latent_plane.css", minify: true, bundle: true });
for (const f of ["build/latent_plane.js", "build/widget.js", "build/latent_plane.css"]) {
  console.log(`${f}: ${statSync(f).size} bytes`);
}
