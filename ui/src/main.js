// The TruthScan evidence view: one report (image + heatmap, gauge, reasons, provenance) or a
// batch grid. Every string that comes from a result is inserted with textContent, never as HTML:
// TruthScan's reasoning, file names and metadata are untrusted text.
import { App, applyDocumentTheme, applyHostStyleVariables } from "@modelcontextprotocol/ext-apps";

const TIERS = [
  { name: "Real", from: 0, to: 20, css: "--real" },
  { name: "Likely Real", from: 20, to: 50, css: "--likely-real" },
  { name: "Likely Synthetic", from: 50, to: 80, css: "--likely-syn" },
  { name: "Synthetic", from: 80, to: 100, css: "--syn" },
];
const SVG = "http://www.w3.org/2000/svg";
// A long poll per get_result call: the server waits, the page does not spin.
const POLL_WAIT_SECONDS = 15;
const THUMB_CONCURRENCY = 4;

const $ = (id) => document.getElementById(id);
const app = new App({ name: "truthscan-evidence-view", version: "0.1.0" }, {}, { autoResize: true });

let generation = 0; // bumped whenever the view changes, so stale polls and image loads stop
let batch = null; // the batch result while one is shown
let stopped = false;
let shownName = null; // the name the open report is shown under, kept across its refreshes

function isNum(v) {
  return typeof v === "number" && Number.isFinite(v);
}

function tierOf(score) {
  if (!isNum(score)) return null;
  return TIERS.find((t) => score < t.to) ?? TIERS[TIERS.length - 1];
}

function tierName(report) {
  if (typeof report.tier === "string" && report.tier) return report.tier;
  return tierOf(report.ai_score)?.name ?? null;
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function tierBadge(name) {
  const badge = el("span", name ?? "—", "tier");
  if (name) badge.dataset.tier = name;
  return badge;
}

function setState(text) {
  $("state").textContent = text ?? "";
}

function safeImage(uri) {
  return typeof uri === "string" && /^data:image\/(png|jpeg|webp|gif);base64,/.test(uri) ? uri : null;
}

// --- theme --------------------------------------------------------------------------------------

function applyContext(ctx) {
  if (!ctx) return;
  if (ctx.theme === "light" || ctx.theme === "dark") applyDocumentTheme(ctx.theme);
  if (ctx.styles?.variables) applyHostStyleVariables(ctx.styles.variables);
}

// --- the gauge ----------------------------------------------------------------------------------

function polar(value, radius) {
  const angle = Math.PI * (1 - value / 100);
  return [100 + radius * Math.cos(angle), 100 - radius * Math.sin(angle)];
}

function arc(from, to, radius) {
  const [x1, y1] = polar(from, radius);
  const [x2, y2] = polar(to, radius);
  return `M ${x1.toFixed(2)} ${y1.toFixed(2)} A ${radius} ${radius} 0 0 1 ${x2.toFixed(2)} ${y2.toFixed(2)}`;
}

function drawGauge(score, tier) {
  const svg = $("gauge");
  while (svg.lastChild && svg.lastChild.nodeName !== "title") svg.removeChild(svg.lastChild);
  const styles = getComputedStyle(document.documentElement);
  for (const t of TIERS) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", arc(t.from + 0.6, t.to - 0.6, 80));
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", styles.getPropertyValue(t.css).trim() || "#888");
    path.setAttribute("stroke-width", t.name === tier ? "22" : "14");
    path.setAttribute("opacity", !tier || t.name === tier ? "1" : "0.45");
    svg.appendChild(path);
  }
  const label = document.createElementNS(SVG, "text");
  label.setAttribute("x", "100");
  label.setAttribute("y", "98");
  label.setAttribute("text-anchor", "middle");
  label.setAttribute("font-size", "30");
  label.setAttribute("font-weight", "700");
  label.setAttribute("fill", "currentColor");
  label.textContent = isNum(score) ? String(Math.round(score)) : "—";
  svg.appendChild(label);
  if (isNum(score)) {
    const value = Math.max(0, Math.min(100, score));
    const [x1, y1] = polar(value, 64);
    const [x2, y2] = polar(value, 96);
    const needle = document.createElementNS(SVG, "line");
    needle.setAttribute("x1", x1.toFixed(2));
    needle.setAttribute("y1", y1.toFixed(2));
    needle.setAttribute("x2", x2.toFixed(2));
    needle.setAttribute("y2", y2.toFixed(2));
    needle.setAttribute("stroke", "currentColor");
    needle.setAttribute("stroke-width", "4");
    needle.setAttribute("stroke-linecap", "round");
    svg.appendChild(needle);
  }
  for (const [value, text] of [[0, "0"], [100, "100"]]) {
    const [x] = polar(value, 80);
    const tick = document.createElementNS(SVG, "text");
    tick.setAttribute("x", String(x));
    tick.setAttribute("y", "116");
    tick.setAttribute("text-anchor", "middle");
    tick.setAttribute("font-size", "11");
    tick.setAttribute("fill", "currentColor");
    tick.textContent = text;
    svg.appendChild(tick);
  }
  $("gauge-label").textContent = isNum(score)
    ? `AI score ${Math.round(score)} of 100${tier ? `, tier ${tier}` : ""}`
    : "AI score not known yet";
}

// --- one report ---------------------------------------------------------------------------------

function section(title, body) {
  const box = el("section");
  box.appendChild(el("h2", title));
  box.appendChild(body);
  return box;
}

function list(items) {
  const ul = el("ul", null, "list");
  for (const item of items) ul.appendChild(el("li", item));
  return ul;
}

function strings(value) {
  return Array.isArray(value) ? value.filter((v) => typeof v === "string" && v) : [];
}

const FINDINGS = {
  ai_declared: "The file declares that it was made or changed by AI.",
  camera_declared: "The file declares a camera capture.",
  edited_declared: "The file declares that it was edited.",
  none: "The file declares nothing about its origin.",
};

function provenanceSection(p) {
  const box = el("div");
  if (typeof p.finding === "string") box.appendChild(el("p", FINDINGS[p.finding] ?? p.finding));
  const facts = el("dl", null, "facts");
  const fact = (name, value) => {
    if (value === null || value === undefined || value === "") return;
    facts.appendChild(el("dt", name));
    facts.appendChild(el("dd", value));
  };
  fact("Generator", p.generator);
  fact("Source type", p.digital_source_type);
  if (p.camera) fact("Camera", [p.camera.make, p.camera.model].filter(Boolean).join(" ") || null);
  fact("Software", p.camera?.software ?? p.software);
  const c2pa = p.c2pa;
  if (c2pa && c2pa.present) {
    const validity = c2pa.valid === true ? "signature valid" : c2pa.valid === false ? "signature INVALID" : "not verified";
    const trust = c2pa.trusted === true ? ", trusted signer" : c2pa.trusted === false ? ", untrusted signer" : "";
    fact("C2PA", `present, ${validity}${trust}`);
    fact("Signed by", c2pa.signer);
    fact("Made with", c2pa.claim_generator);
  } else if (c2pa) {
    fact("C2PA", "none");
  }
  if (facts.childElementCount) box.appendChild(facts);
  const evidence = strings(p.evidence);
  if (evidence.length) box.appendChild(list(evidence));
  box.appendChild(
    el("p", "A declaration is evidence, not proof: unsigned metadata is easily forged or stripped.", "muted"),
  );
  return box;
}

function confidenceText(r) {
  if (isNum(r.confidence)) return `${Math.round(r.confidence)}%${r.confidence_band ? ` (${r.confidence_band})` : ""}`;
  return r.confidence_band ?? "—";
}

function progressText(r) {
  const parts = [`TruthScan is still working on this image (status: ${r.status ?? "unknown"}`];
  if (r.analysis_status === "pending") parts.push(", deep analysis pending");
  return `${parts.join("")}). Checking again…`;
}

function renderReport(r, { fromBatch = false, keepImages = false, name: fallbackName = null } = {}) {
  const gen = keepImages ? generation : ++generation;
  $("batch").hidden = true;
  $("report").hidden = false;
  $("back").hidden = !fromBatch;
  $("simulated").hidden = !(r.simulated || batch?.simulated);
  setState(null);
  const name = r.source?.name || fallbackName || (r.id ? `Document ${r.id}` : "Report");
  shownName = name;
  $("report-title").textContent = name;
  const tier = tierName(r);
  $("verdict").textContent = r.verdict ?? (r.status === "failed" ? "Failed" : "Not known yet");
  $("score").textContent = isNum(r.ai_score) ? `${Math.round(r.ai_score)} / 100` : "—";
  const tierCell = $("tier");
  tierCell.replaceChildren(tierBadge(tier));
  $("confidence").textContent = confidenceText(r);
  $("agreement").textContent = r.analysis?.agreement ?? "—";
  drawGauge(r.ai_score, tier);
  $("caption").textContent = [r.source?.media_type, r.cached ? "from the local cache" : null]
    .filter(Boolean)
    .join(" · ");

  const sections = $("sections");
  sections.replaceChildren();
  const a = r.analysis ?? {};
  if (typeof a.reasoning === "string" && a.reasoning) {
    const quote = el("blockquote", a.reasoning, "quote");
    sections.appendChild(section("TruthScan's reasoning", quote));
  } else if (r.analysis_status && r.analysis_status !== "done") {
    const note = {
      pending: "TruthScan's deep analysis is still running.",
      skipped: "TruthScan skipped the deep analysis for this image.",
      failed: "TruthScan's deep analysis failed.",
      not_requested: "No deep analysis was requested.",
    }[r.analysis_status];
    if (note) sections.appendChild(section("TruthScan's reasoning", el("p", note, "muted")));
  }
  for (const [title, key] of [
    ["Key indicators", "key_indicators"],
    ["Visual patterns", "visual_patterns"],
    ["Recommendations", "recommendations"],
  ]) {
    const items = strings(a[key]);
    if (items.length) sections.appendChild(section(title, list(items)));
  }
  if (r.provenance && typeof r.provenance === "object") {
    sections.appendChild(section("Provenance (what the file declares)", provenanceSection(r.provenance)));
  }
  const warnings = strings(r.warnings);
  if (warnings.length) sections.appendChild(section("Notes", list(warnings)));

  const progress = $("progress");
  const pending = r.complete === false && typeof r.id === "string";
  progress.hidden = !pending && r.status !== "failed";
  progress.textContent = pending ? progressText(r) : r.status === "failed" ? "TruthScan could not process this image." : "";

  if (typeof r.id === "string") loadImages(r.id, gen, r);
  else showImages(null, null);
  if (pending) poll(r.id, gen, fromBatch);
}

function showImages(thumb, heat) {
  const img = $("thumb");
  const overlay = $("heat");
  const t = safeImage(thumb);
  const h = safeImage(heat);
  if (t) img.src = t;
  else img.removeAttribute("src");
  img.hidden = !t;
  $("placeholder").hidden = Boolean(t);
  if (h) overlay.src = h;
  else overlay.removeAttribute("src");
  overlay.hidden = !h || !t;
  $("opacity-row").hidden = overlay.hidden;
  overlay.style.opacity = String(Number($("opacity").value) / 100);
}

const loaded = new Map(); // id -> {thumb, heat} already fetched for the current report

async function loadImages(id, gen, report) {
  const have = loaded.get(id);
  const wantHeat = report.heatmap_status === "ready";
  if (have && (have.heat || !wantHeat)) {
    showImages(have.thumb, have.heat);
    return;
  }
  if (!have) showImages(null, null);
  const sc = await images(id, true);
  if (gen !== generation || !sc) return;
  const entry = { thumb: sc.thumbnail ?? null, heat: sc.heatmap ?? null };
  loaded.set(id, entry);
  showImages(entry.thumb, entry.heat);
  if (!entry.thumb) $("placeholder").textContent = sc.note || "No preview";
}

async function images(id, heatmap) {
  try {
    const result = await app.callServerTool({ name: "get_report_images", arguments: { id, heatmap } });
    return result.isError ? null : (result.structuredContent ?? null);
  } catch (err) {
    return null;
  }
}

function textOf(result) {
  return (result.content ?? [])
    .filter((b) => b.type === "text")
    .map((b) => b.text)
    .join("\n");
}

async function poll(id, gen, fromBatch) {
  while (!stopped && gen === generation) {
    let result;
    try {
      result = await app.callServerTool({
        name: "get_result",
        arguments: { id, wait_seconds: POLL_WAIT_SECONDS },
      });
    } catch (err) {
      if (gen !== generation) return;
      $("progress").textContent = `Could not reach TruthScan: ${err?.message ?? err}. `;
      $("progress").appendChild(retryButton(() => poll(id, gen, fromBatch)));
      return;
    }
    if (gen !== generation) return;
    if (result.isError || !result.structuredContent) {
      $("progress").textContent = textOf(result) || "get_result failed. ";
      $("progress").appendChild(retryButton(() => poll(id, gen, fromBatch)));
      return;
    }
    const report = result.structuredContent;
    renderReport(report, { fromBatch, keepImages: true, name: shownName });
    if (report.complete !== false) return;
    return; // renderReport started the next poll for an incomplete report
  }
}

function retryButton(action) {
  const button = el("button", "Try again");
  button.type = "button";
  button.addEventListener("click", action);
  return button;
}

// --- a batch ------------------------------------------------------------------------------------

function rowTier(row) {
  return typeof row.tier === "string" && row.tier ? row.tier : (tierOf(row.ai_score)?.name ?? null);
}

function sortedRows(rows, key) {
  const copy = rows.slice();
  const name = (r) => String(r.name ?? r.source ?? "");
  if (key === "name") copy.sort((a, b) => name(a).localeCompare(name(b)));
  else if (key === "verdict")
    copy.sort((a, b) => String(a.verdict ?? "~").localeCompare(String(b.verdict ?? "~")) || name(a).localeCompare(name(b)));
  else copy.sort((a, b) => (isNum(b.ai_score) ? b.ai_score : -1) - (isNum(a.ai_score) ? a.ai_score : -1));
  return copy;
}

function totalsText(t) {
  if (!t) return "";
  const parts = [`${t.total ?? 0} images`];
  if (t.complete !== undefined) parts.push(`${t.complete} complete`);
  if (t.incomplete) parts.push(`${t.incomplete} unfinished`);
  if (t.errors) parts.push(`${t.errors} failed`);
  if (t.verdicts && typeof t.verdicts === "object") {
    for (const [verdict, count] of Object.entries(t.verdicts)) parts.push(`${verdict}: ${count}`);
  }
  if (isNum(t.credits_spent)) parts.push(`${t.credits_spent} credits spent`);
  return parts.join(" · ");
}

function renderBatch(sc) {
  const gen = ++generation;
  batch = sc;
  $("report").hidden = true;
  $("batch").hidden = false;
  $("simulated").hidden = !sc.simulated;
  setState(null);
  $("batch-title").textContent = sc.page_url
    ? `Page sweep: ${sc.rows.length} image${sc.rows.length === 1 ? "" : "s"}`
    : `Batch of ${sc.rows.length} image${sc.rows.length === 1 ? "" : "s"}`;
  renderPage(sc);
  // `totals` per the contract; older servers called the same object `summary`.
  $("totals").textContent = totalsText(sc.totals ?? (typeof sc.summary === "object" ? sc.summary : null));
  const grid = $("grid");
  grid.replaceChildren();
  const pending = [];
  for (const row of sortedRows(sc.rows, $("sort").value)) {
    const item = el("li");
    const card = el("button", null, "card");
    card.type = "button";
    const thumb = el("div", row.error ? "Error" : "…", "thumb");
    card.appendChild(thumb);
    card.appendChild(el("span", row.name ?? row.source ?? "image", "name"));
    // the page's words, quoted and attributed: never presented as ours
    if (typeof row.alt === "string" && row.alt) card.appendChild(el("span", `the page says: “${row.alt}”`, "alt"));
    const line = el("span", null, "line");
    if (row.error) {
      line.appendChild(el("span", row.error, "error"));
    } else {
      const tier = rowTier(row);
      line.appendChild(el("span", `${row.verdict ?? (row.complete === false ? "Unfinished" : "—")}`));
      line.appendChild(document.createTextNode(" "));
      if (tier) line.appendChild(tierBadge(tier));
      if (isNum(row.ai_score)) line.appendChild(document.createTextNode(` ${Math.round(row.ai_score)}/100`));
    }
    card.appendChild(line);
    const label = `${row.name ?? row.source ?? "image"}: ${row.error ? `error, ${row.error}` : `${row.verdict ?? "unfinished"}${isNum(row.ai_score) ? `, AI score ${Math.round(row.ai_score)}` : ""}`}`;
    card.setAttribute("aria-label", label);
    const id = row.id ?? row.duplicate_of;
    if (typeof id === "string" && !row.error) {
      card.addEventListener("click", () => openRow(id, row.name ?? row.source ?? null));
      pending.push([id, thumb]);
    } else {
      card.disabled = true;
    }
    item.appendChild(card);
    grid.appendChild(item);
  }
  loadThumbs(pending, gen);
}

// A page sweep: which page (its title is the page's words, quoted) and what was left out, and why.
function renderPage(sc) {
  const isPage = typeof sc.page_url === "string" && sc.page_url;
  $("page").hidden = !isPage;
  $("page-title").textContent =
    isPage && typeof sc.page_title === "string" && sc.page_title ? `The page says: “${sc.page_title}”` : "";
  $("page-url").textContent = isPage ? sc.page_url : "";
  const skipped = isPage && Array.isArray(sc.skipped) ? sc.skipped : [];
  $("skipped").hidden = skipped.length === 0;
  $("skipped-title").textContent = `${skipped.length} image${skipped.length === 1 ? "" : "s"} not detected (nothing paid)`;
  const list = $("skipped-list");
  list.replaceChildren();
  for (const entry of skipped) {
    const item = el("li");
    item.appendChild(el("span", String(entry?.source ?? ""), "name"));
    item.appendChild(el("span", ` — ${String(entry?.reason ?? "")}`, "muted"));
    list.appendChild(item);
  }
}

async function loadThumbs(pending, gen) {
  const queue = pending.slice();
  const worker = async () => {
    while (queue.length && gen === generation) {
      const [id, box] = queue.shift();
      const cached = loaded.get(id);
      const sc = cached ? { thumbnail: cached.thumb } : await images(id, false);
      if (gen !== generation) return;
      const uri = safeImage(sc?.thumbnail);
      if (uri) {
        const img = el("img", null, "thumb");
        img.alt = "";
        img.src = uri;
        box.replaceWith(img);
      } else {
        box.textContent = "No preview";
      }
    }
  };
  await Promise.all(Array.from({ length: THUMB_CONCURRENCY }, worker));
}

async function openRow(id, name) {
  const gen = ++generation;
  setState("Opening the report…");
  let result;
  try {
    result = await app.callServerTool({ name: "get_result", arguments: { id } });
  } catch (err) {
    if (gen === generation) setState(`Could not open the report: ${err?.message ?? err}`);
    return;
  }
  if (gen !== generation) return;
  if (result.isError || !result.structuredContent) {
    setState(textOf(result) || "Could not open the report.");
    return;
  }
  renderReport(result.structuredContent, { fromBatch: true, name });
  $("report-title").focus?.();
}

// --- the drop zone (a request_image result) ---------------------------------------------------
// The person drops an image here; its bytes go page → host → server through the app-only
// submit_upload, then detect_image runs on the upload: they never enter the model's context.

const MAX_BYTES = 10 * 1024 * 1024;
let upload = null; // the request_image result the drop zone is for
let handing = false;

function renderDropZone(sc) {
  generation++;
  upload = sc;
  batch = null;
  $("report").hidden = true;
  $("batch").hidden = true;
  $("drop").hidden = false;
  $("simulated").hidden = true;
  setState(null);
  const note = $("drop-note");
  note.textContent = typeof sc.note === "string" && sc.note ? `Your assistant asks: ${sc.note}` : "";
  note.hidden = !note.textContent;
  $("drop-link").textContent = typeof sc.upload_url === "string" ? sc.upload_url : "";
  const expires = new Date(sc.expires_at);
  $("drop-expires").textContent = Number.isNaN(expires.getTime()) ? "it expires" : expires.toLocaleTimeString();
  dropStatus("");
}

function dropStatus(text, bad = false) {
  const status = $("drop-status");
  status.textContent = text.replace(/^Error executing tool \w+: /, ""); // the SDK's prefix, not for a person
  status.classList.toggle("bad", bad);
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(reader.error ?? new Error("the file could not be read"));
    reader.readAsDataURL(file);
  });
}

async function handOver(file) {
  if (!file || !upload || handing) return;
  if (file.size > MAX_BYTES) {
    dropStatus(`${file.name} is larger than 10 MB, the most TruthScan accepts: resize or re-compress it.`, true);
    return;
  }
  handing = true;
  $("dropzone").setAttribute("aria-disabled", "true");
  try {
    dropStatus(`Handing ${file.name} to TruthScan…`);
    const data = await readBase64(file);
    const sent = await app.callServerTool({
      name: "submit_upload",
      arguments: { upload_id: upload.upload_id, name: file.name || "image", data },
    });
    if (sent.isError) {
      dropStatus(textOf(sent) || "The image was not accepted.", true);
      return;
    }
    dropStatus("TruthScan is checking the image…");
    const result = await app.callServerTool({ name: "detect_image", arguments: { upload: upload.upload_id } });
    if (result.isError || !result.structuredContent) {
      dropStatus(textOf(result) || "The detection failed.", true);
      return;
    }
    $("drop").hidden = true;
    renderReport(result.structuredContent);
    await tellModel(file.name, result);
  } catch (err) {
    dropStatus(`Could not reach the server: ${err?.message ?? err}. Try again.`, true);
  } finally {
    handing = false;
    $("dropzone").removeAttribute("aria-disabled");
  }
}

// The conversation goes on from the verdict: the model gets the full text (what it would have
// read had it called detect_image itself), and, where the host takes messages, a short turn.
async function tellModel(name, result) {
  const sc = result.structuredContent;
  const summary = typeof sc.summary === "string" && sc.summary ? sc.summary : textOf(result);
  const context = `The person dropped ${name} into the TruthScan view, which checked it with detect_image (upload ${upload?.upload_id}). The result:\n${summary}`;
  try {
    await app.updateModelContext({ content: [{ type: "text", text: context }] });
  } catch (err) {
    // a host without model context still shows the report; the message below may reach it
  }
  if (app.getHostCapabilities()?.message) {
    const tier = tierName(sc);
    const line = [sc.verdict, tier ? `${tier} band` : null, isNum(sc.ai_score) ? `AI score ${Math.round(sc.ai_score)}/100` : null]
      .filter(Boolean)
      .join(", ");
    try {
      await app.sendMessage({
        role: "user",
        content: [{ type: "text", text: `I dropped ${name} into the TruthScan view: ${line || "the result is above"}. What does it mean?` }],
      });
    } catch (err) {
      // the model already has the result in its context
    }
  }
}

$("drop-picker").addEventListener("change", () => handOver($("drop-picker").files?.[0]));
for (const name of ["dragenter", "dragover"]) {
  $("dropzone").addEventListener(name, (event) => {
    event.preventDefault();
    $("dropzone").classList.add("over");
  });
}
for (const name of ["dragleave", "drop"]) {
  $("dropzone").addEventListener(name, () => $("dropzone").classList.remove("over"));
}
$("dropzone").addEventListener("drop", (event) => {
  event.preventDefault();
  handOver(event.dataTransfer?.files?.[0]);
});

// --- wiring -------------------------------------------------------------------------------------

function show(result) {
  if (!result) return;
  const sc = result.structuredContent;
  if (result.isError) {
    generation++;
    $("report").hidden = true;
    $("batch").hidden = true;
    $("drop").hidden = true;
    setState(textOf(result) || "The tool failed.");
    return;
  }
  $("drop").hidden = true;
  if (sc && typeof sc.upload_id === "string" && typeof sc.upload_url === "string") renderDropZone(sc);
  else if (sc && Array.isArray(sc.rows)) renderBatch(sc);
  else if (sc && typeof sc === "object" && "status" in sc) {
    batch = null;
    renderReport(sc);
  } else setState(textOf(result) || "No result to show.");
}

$("opacity").addEventListener("input", () => {
  $("heat").style.opacity = String(Number($("opacity").value) / 100);
});
$("sort").addEventListener("change", () => {
  if (batch) renderBatch(batch);
});
$("back").addEventListener("click", () => {
  if (batch) renderBatch(batch);
});
$("report-title").tabIndex = -1;

app.ontoolresult = (params) => show(params);
const IMAGE_ARGUMENTS = ["path", "url", "data", "clipboard", "upload", "paths", "directory", "urls", "page", "id"];
app.ontoolinput = (params) => {
  const args = params?.arguments ?? {};
  // request_image names no image: the drop zone is on its way, nothing is being checked yet
  const checking = IMAGE_ARGUMENTS.some((key) => args[key] !== undefined && args[key] !== null);
  setState(checking ? "TruthScan is checking the image…" : "Opening a drop zone for your image…");
};
app.ontoolcancelled = () => setState("The detection was cancelled.");
app.onhostcontextchanged = (ctx) => applyContext(ctx);
app.onteardown = async () => {
  stopped = true;
  generation++;
  return {};
};

app
  .connect()
  .then(() => applyContext(app.getHostContext()))
  .catch((err) => setState(`Could not connect to the host: ${err?.message ?? err}`));
