// Builds the evidence view into ONE self-contained HTML file (scripts and styles inlined, no
// network at render time), plus the host bridge the browser test uses. Deterministic: the same
// sources and lockfile give the same bytes, which ui/check-built.sh relies on.
import { build, transform } from "esbuild";
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..");
const out = process.argv[2] ?? repo;
const PAGE = join(out, "truthscan_mcp/adapter/ui/report.html");
const HOST = join(out, "tests/e2e/host/app-bridge.js");

// Every npm package whose code lands in a bundle, with its licence text, from the metafile.
function licences(metafile) {
  const packages = new Map();
  for (const input of Object.keys(metafile.inputs)) {
    const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
    if (!match || packages.has(match[1])) continue;
    const root = join(here, "node_modules", match[1]);
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    const file = ["LICENSE", "LICENSE.md", "LICENSE.txt", "license"].find((f) => existsSync(join(root, f)));
    const text = file ? readFileSync(join(root, file), "utf8").trim() : `License: ${pkg.license}`;
    packages.set(match[1], `${pkg.name}@${pkg.version} (${pkg.license})\n\n${text}`);
  }
  return [...packages.keys()].sort().map((name) => packages.get(name));
}

// The MCP SDK packages declare no "sideEffects", so esbuild would keep every module they import
// (OAuth, SSE, stdio...) although the view only uses the Protocol class: they have none at import
// time, and saying so lets tree shaking drop them.
const pureSdk = {
  name: "pure-sdk",
  setup(b) {
    b.onResolve({ filter: /^@modelcontextprotocol\/(client|core)$|^(jose|eventsource|eventsource-parser|pkce-challenge)$/ }, async (args) => {
      if (args.pluginData?.pure) return undefined;
      const resolved = await b.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        pluginData: { pure: true },
      });
      return { ...resolved, sideEffects: false };
    });
  },
};

// zod's namespace object re-exports its ~50 message locales (260 kB), which the view never uses
// (zod itself configures English): keep only English.
const englishOnly = {
  name: "zod-english-only",
  setup(b) {
    b.onLoad({ filter: /node_modules\/zod\/v4\/locales\/index\.js$/ }, () => ({
      contents: 'export { default as en } from "./en.js";\n',
      loader: "js",
      resolveDir: join(here, "node_modules/zod/v4/locales"),
    }));
  },
};

async function bundle(entry) {
  const result = await build({
    entryPoints: [join(here, "src", entry)],
    bundle: true,
    format: "iife",
    target: "es2020",
    platform: "browser",
    minify: true,
    legalComments: "none",
    metafile: true,
    write: false,
    logLevel: "warning",
    plugins: [pureSdk, englishOnly],
  });
  return { code: result.outputFiles[0].text, notices: licences(result.metafile) };
}

function comment(notices) {
  // Inside a JS block comment: no "*/" may appear in the licence texts.
  return `/*! Bundled third-party code and its licences:\n\n${notices.join("\n\n---\n\n").replaceAll("*/", "* /")}\n*/\n`;
}

const page = await bundle("main.js");
const css = (await transform(readFileSync(join(here, "src/style.css"), "utf8"), { loader: "css", minify: true })).code;
const script = (comment(page.notices) + page.code).replaceAll("</script", "<\\/script");
const html = readFileSync(join(here, "src/index.html"), "utf8")
  .replace("/*__STYLE__*/", () => css.trim().replaceAll("</style", "<\\/style"))
  .replace("/*__SCRIPT__*/", () => script.trim());
mkdirSync(dirname(PAGE), { recursive: true });
writeFileSync(PAGE, html);

const host = await bundle("host.js");
mkdirSync(dirname(HOST), { recursive: true });
writeFileSync(HOST, comment(host.notices) + host.code);
console.error(`report.html ${Buffer.byteLength(html)} bytes; app-bridge.js ${Buffer.byteLength(host.code)} bytes`);
