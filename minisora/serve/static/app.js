// The minisora page: plain JS over the same /v1/videos API the SDK uses. No build step.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { model: null, cards: new Map(), urls: new Map(), lastId: null, timer: null };
const ACTIVE = new Set(["queued", "in_progress"]);

function authHeaders(extra = {}) {
  const key = $("api-key").value || sessionStorage.getItem("minisora-api-key") || "";
  return key ? { ...extra, Authorization: "Bearer " + key } : extra;
}

// fetch() that turns OpenAI-shaped errors into exceptions carrying their message
async function api(method, path, body) {
  const opts = { method, headers: authHeaders(body ? { "Content-Type": "application/json" } : {}) };
  if (body) opts.body = JSON.stringify(body);
  const r = await fetch(path, opts);
  if (r.status === 401) $("key-row").hidden = false;
  if (!r.ok) {
    let message = "HTTP " + r.status;
    try { message = (await r.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return r;
}

function fillSelect(select, values, labels, chosen) {
  select.replaceChildren(...values.map((v, i) => {
    const o = new Option(labels[i], v);
    o.selected = v === chosen;
    return o;
  }));
}

async function loadModel() {
  try {
    const m = (await (await api("GET", "/v1/models")).json()).data[0];
    state.model = m;
    fillSelect($("size"), m.sizes, m.sizes, m.default_size);
    fillSelect($("seconds"), m.seconds, m.seconds.map((s) => `${m.frames[s]} frames (${s} s)`), m.default_seconds);
    $("steps").value = m.default_steps;
    $("steps").max = m.max_steps;
    $("model-line").textContent = `model ${m.id} · ${m.fps} fps · sizes ${m.sizes.join(", ")}`;
    refresh();
  } catch (e) {
    $("model-line").textContent = "could not reach the server: " + e.message;
    setTimeout(loadModel, 2000);
  }
}

function say(text) { $("form-status").textContent = text; }

function formSettings() {
  const s = { size: $("size").value, seconds: $("seconds").value };
  const steps = $("steps").value.trim();
  const seed = $("seed").value.trim();
  if (steps) s.num_inference_steps = Number(steps);
  if (seed) s.seed = Number(seed);
  return s;
}

async function submitJob(path, body, what) {
  say(`${what}: sending…`);
  try {
    const v = await (await api("POST", path, body)).json();
    state.lastId = v.id;
    say(`${what}: ${v.id} is ${v.status.replace("_", " ")}`);
    await refresh();
  } catch (e) {
    say(`${what} failed: ${e.message}`);
  }
}

function onSubmit(event) {
  event.preventDefault();
  const prompt = $("prompt").value.trim();
  if (!prompt) { say("Type a prompt first."); $("prompt").focus(); return; }
  const body = { prompt, ...formSettings() };
  if ($("loop").checked) body.loop = true;
  submitJob("/v1/videos", body, "New video");
}

function describe(v) {
  const parts = [v.size, `${v.seconds} s`, v.status.replace("_", " ")];
  if (ACTIVE.has(v.status)) parts.push(`${v.progress}%`);
  if (v.remixed_from_video_id) parts.push("remix");
  return parts.join(" · ");
}

async function showVideo(card, v) {
  // fetched with the key header (a <video src> cannot send one), then played from a blob URL
  if (state.urls.has(v.id)) return;
  state.urls.set(v.id, null);
  try {
    const blob = await (await api("GET", `/v1/videos/${v.id}/content?variant=video`)).blob();
    const url = URL.createObjectURL(blob);
    state.urls.set(v.id, url);
    const video = card.querySelector("video");
    video.src = url;
    video.play().catch(() => { /* autoplay refused: the controls still play it */ });
    const a = card.querySelector(".download");
    a.href = url;
    a.download = `${v.id}.mp4`;
  } catch (e) {
    state.urls.delete(v.id);
    card.querySelector(".error").textContent = "could not load the video: " + e.message;
  }
}

function rewriteNotes(r) {
  // what the prompt became, and what of it the video does not show (minisora_rewrite, set once done)
  if (!r) return "";
  const lines = [`shown as: ${r.caption}`];
  if (r.unmapped && r.unmapped.length) lines.push(`not understood: ${r.unmapped.join(", ")}`);
  for (const note of r.adjusted || []) lines.push(`adjusted: ${note}`);
  return lines.join("\n");
}

function render(v) {
  let card = state.cards.get(v.id);
  if (!card) {
    card = $("card-template").content.firstElementChild.cloneNode(true);
    card.dataset.id = v.id;
    card.querySelector("video").setAttribute("aria-label", `video: ${v.prompt}`);
    state.cards.set(v.id, card);
  }
  card.dataset.status = v.status;
  card.video = v;
  card.querySelector(".prompt").textContent = v.prompt;
  card.querySelector(".meta").textContent = describe(v);
  card.querySelector(".rewrite").textContent = rewriteNotes(v.minisora_rewrite);
  card.querySelector("progress").value = v.progress;
  card.querySelector(".error").textContent = v.error ? `failed: ${v.error.message}` : "";
  if (v.status === "completed") showVideo(card, v);
  if (v.id === state.lastId) say(`${v.prompt}: ${describe(v)}`);
  return card;
}

async function refresh() {
  clearTimeout(state.timer);
  let active = false;
  try {
    const page = await (await api("GET", "/v1/videos?order=desc&limit=50")).json();
    const cards = page.data.map(render);
    // move only misplaced cards: a card left in place keeps its playing video and the keyboard focus
    const gallery = $("gallery");
    cards.forEach((card, i) => { if (gallery.children[i] !== card) gallery.insertBefore(card, gallery.children[i] || null); });
    while (gallery.children.length > cards.length) gallery.lastElementChild.remove();
    for (const [id, card] of state.cards) if (!cards.includes(card)) forget(id);
    $("gallery-empty").hidden = cards.length > 0;
    active = page.data.some((v) => ACTIVE.has(v.status));
  } catch (e) {
    say("could not list videos: " + e.message);
  }
  state.timer = setTimeout(refresh, active ? 400 : 5000);
}

function forget(id) {
  const url = state.urls.get(id);
  if (url) URL.revokeObjectURL(url);
  state.urls.delete(id);
  state.cards.delete(id);
}

async function onAction(event) {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const v = button.closest(".card").video;
  const boxPrompt = $("prompt").value.trim();
  const s = formSettings();
  switch (button.dataset.action) {
    case "delete":
      try {
        await api("DELETE", `/v1/videos/${v.id}`);
        say(`Deleted ${v.prompt}`);
        forget(v.id);
        $("prompt").focus();
      } catch (e) { say("delete failed: " + e.message); }
      return refresh();
    case "extend":
      return submitJob("/v1/videos/extensions", { prompt: boxPrompt || v.prompt, seconds: s.seconds,
        video: { id: v.id }, ...(s.num_inference_steps ? { num_inference_steps: s.num_inference_steps } : {}) }, "Extend");
    case "remix":
      return submitJob(`/v1/videos/${v.id}/remix`, { prompt: boxPrompt || v.prompt }, "Remix");
    case "loop":
      // same prompt and size (unless it was upscaled past the model's sizes), the form's length and steps
      return submitJob("/v1/videos", { prompt: v.prompt, ...s, size: state.model.sizes.includes(v.size) ? v.size : s.size,
        loop: true }, "Loop");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("create-form").addEventListener("submit", onSubmit);
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("create-form").requestSubmit();
  });
  $("api-key").addEventListener("change", () => {
    sessionStorage.setItem("minisora-api-key", $("api-key").value);
    loadModel();
  });
  $("gallery").addEventListener("click", onAction);
  loadModel();
});
