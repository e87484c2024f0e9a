// The Cadenza web console: one page over the server's public API.
// Sunocore routes answer {code, message, data}; /api/v1 routes answer the object itself
// and fail with the same envelope. The API key lives in sessionStorage (this tab only).

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const TERMINAL = new Set(["SUCCESS", "FAILURE"]);
const PAGE = 20;

const state = {
  key: sessionStorage.getItem("cadenza.key") || "",
  me: null,
  config: null,
  tasks: new Map(), // id -> TaskOut
  order: [], // task ids, newest first
  nextOffset: 0,
  loaded: false, // the first page of the library was fetched
  following: new Map(), // task id -> AbortController of its event stream
  selected: null, // {taskId, clipId}
  player: null, // the clip view's player (see ClipView)
};

class ApiError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

async function errorOf(res) {
  const text = await res.text();
  try {
    const doc = JSON.parse(text);
    return new ApiError(res.status, doc.code ?? String(res.status), doc.message || doc.detail || text);
  } catch {
    return new ApiError(res.status, String(res.status), text || res.statusText);
  }
}

async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { "X-API-Key": state.key, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network", `The server cannot be reached (${err.message}).`);
  }
  if (!res.ok) throw await errorOf(res);
  const text = await res.text();
  const doc = text ? JSON.parse(text) : null;
  if (doc && typeof doc === "object" && "code" in doc && "data" in doc) {
    if (doc.code !== "success") throw new ApiError(res.status, doc.code, doc.message);
    return doc.data;
  }
  return doc;
}

// -- messages -------------------------------------------------------------------------

function showError(err) {
  const box = $("#alert");
  box.classList.remove("ok");
  box.textContent = err instanceof Error ? err.message : String(err);
  box.hidden = false;
}

function showOk(message) {
  const box = $("#alert");
  box.classList.add("ok");
  box.textContent = message;
  box.hidden = false;
}

function clearMessage() {
  $("#alert").hidden = true;
}

// Runs an action of a control: disables it meanwhile, shows any failure as the API's message.
async function act(control, fn) {
  clearMessage();
  if (control) control.disabled = true;
  try {
    return await fn();
  } catch (err) {
    if (err.name !== "AbortError") showError(err);
    return undefined;
  } finally {
    if (control) control.disabled = false;
  }
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

function seconds(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "";
  const s = Math.max(0, Math.round(value));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleString();
}

// -- sign in and navigation -------------------------------------------------------------

async function signIn(key) {
  state.key = key;
  const me = await api("/suno/billing/me");
  state.me = me;
  sessionStorage.setItem("cadenza.key", key);
  $("#who-name").textContent = me.api_key.name;
  updateCredits(me.api_key.credits_balance);
  $("#who").hidden = false;
  $("#nav").hidden = false;
  $("#nav-admin").hidden = !me.is_admin;
  show("create");
}

function updateCredits(balance) {
  $("#who-credits").textContent = `${balance} credits`;
}

async function refreshCredits() {
  try {
    const me = await api("/suno/billing/me");
    updateCredits(me.api_key.credits_balance);
  } catch {
    /* the next action shows the error */
  }
}

function signOut() {
  sessionStorage.removeItem("cadenza.key");
  for (const ctl of state.following.values()) ctl.abort();
  location.reload();
}

function show(view) {
  for (const section of $$(".view")) section.hidden = section.id !== `view-${view}`;
  for (const button of $$("#nav button")) {
    if (button.dataset.view === view) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  clearMessage();
  if (view === "library" && !state.loaded) loadTasks(true);
  if (view === "admin") loadAdmin();
  $("#main").focus({ preventScroll: true });
}

// -- create ---------------------------------------------------------------------------

function mode() {
  return $("#create-form").elements.mode.value;
}

function syncMode() {
  for (const part of $$("[data-mode]")) part.hidden = part.dataset.mode !== mode();
}

function addTag(word) {
  const input = $("#create-tags");
  const have = input.value.split(",").map((t) => t.trim()).filter(Boolean);
  if (!have.includes(word)) have.push(word);
  input.value = have.join(", ");
  input.focus();
}

async function loadConfig() {
  const res = await fetch("/console/config.json");
  state.config = await res.json();
  const models = $("#create-model");
  for (const name of state.config.models) {
    models.append(el("option", { value: name, selected: name === state.config.default_model }, name));
  }
  const list = $("#tag-suggestions");
  const words = [...state.config.genres, ...state.config.moods, ...state.config.instruments];
  for (const word of words) list.append(el("option", { value: word }));
  const chips = $("#tag-chips");
  for (const word of state.config.genres) {
    chips.append(el("button", { type: "button", onclick: () => addTag(word) }, word));
  }
  $("#version").textContent = `Cadenza ${state.config.version}`;
}

function createBody() {
  const seed = $("#create-seed").value.trim();
  const voice = $("#create-voice").value;
  const body = {
    tags: $("#create-tags").value.trim(),
    negative_tags: $("#create-negative").value.trim(),
    mv: $("#create-model").value,
    make_instrumental: $("#create-instrumental").checked,
    metadata: {},
  };
  if (seed !== "") body.metadata.seed = Number(seed);
  if (voice) body.metadata.vocal_gender = voice;
  if (mode() === "description") {
    const text = $("#create-description").value.trim();
    if (!text) throw new ApiError(400, "invalid", "Write a description of the song.");
    body.gpt_description_prompt = text;
    body.prompt = "";
  } else {
    body.title = $("#create-title-input").value.trim();
    body.prompt = $("#create-lyrics").value;
    if (!body.prompt.trim() && !body.make_instrumental) {
      throw new ApiError(400, "invalid", "Write the lyrics, or choose Instrumental.");
    }
  }
  return body;
}

async function submitCreate(event) {
  event.preventDefault();
  await act($("#create-submit"), async () => {
    const taskId = await api("/suno/submit/music", { method: "POST", body: createBody() });
    await adopt(taskId);
    show("library");
    showOk("Your song is on its way.");
    refreshCredits();
  });
}

// A task just submitted: fetch it, put it first, follow it.
async function adopt(taskId) {
  const task = await api(`/api/v1/tasks/${encodeURIComponent(taskId)}`);
  state.tasks.set(task.id, task);
  state.order = [task.id, ...state.order.filter((id) => id !== task.id)];
  renderTasks();
  follow(task.id);
  return task;
}

// -- library: the task list -----------------------------------------------------------

async function loadTasks(reset) {
  if (reset) {
    state.order = [];
    state.nextOffset = 0;
  }
  if (state.nextOffset === null) return;
  const params = new URLSearchParams({ limit: PAGE, offset: state.nextOffset });
  if ($("#filter-status").value) params.set("status", $("#filter-status").value);
  if ($("#filter-action").value) params.set("action", $("#filter-action").value);
  await act($("#more-tasks"), async () => {
    const page = await api(`/api/v1/tasks?${params}`);
    for (const task of page.items) {
      state.tasks.set(task.id, task);
      if (!state.order.includes(task.id)) state.order.push(task.id);
      if (!TERMINAL.has(task.status)) follow(task.id);
    }
    state.nextOffset = page.next_offset;
    state.loaded = true;
    renderTasks();
  });
}

function renderTasks() {
  const list = $("#task-list");
  list.replaceChildren();
  if (state.order.length === 0) {
    list.append(el("li", { class: "empty" }, "No tasks yet. Create a song, or drop an audio file above."));
  }
  for (const id of state.order) list.append(taskItem(state.tasks.get(id)));
  $("#more-tasks").hidden = state.nextOffset === null || state.order.length === 0;
}

function taskItem(task) {
  const done = TERMINAL.has(task.status);
  const item = el(
    "li",
    { class: "task", "data-task": task.id, "data-status": task.status },
    el(
      "header",
      {},
      el("span", {}, task.action),
      el("span", { class: `status-${task.status}` }, done ? task.status : `${task.progress}%`),
    ),
  );
  if (!done) {
    item.append(
      el("progress", {
        max: 100,
        value: task.progress,
        "aria-label": `${task.action} task progress`,
        "aria-valuenow": task.progress,
      }),
    );
  }
  if (task.status === "FAILURE") item.append(el("p", { class: "fail" }, task.fail_reason || "failed"));
  const clips = el("ul");
  for (const clip of task.clips) {
    const pressed = state.selected && state.selected.clipId === clip.id;
    clips.append(
      el(
        "li",
        {},
        el(
          "button",
          {
            type: "button",
            class: "clip-button",
            "aria-pressed": pressed ? "true" : "false",
            "data-clip": clip.id,
            onclick: () => selectClip(task.id, clip.id),
          },
          el("img", { src: clip.image_url || undefined, alt: "" }),
          el("span", {}, clip.title || "Untitled", el("br"), el("small", {}, clipStatus(clip))),
        ),
      ),
    );
  }
  item.append(clips);
  return item;
}

function clipStatus(clip) {
  if (clip.status === "complete") return seconds(clip.duration);
  if (clip.status === "error") return clip.error_message || "error";
  return clip.status;
}

// Follows a task's events (server-sent events over fetch, so the key travels in a header);
// falls back to polling when the stream cannot be had.
function follow(taskId) {
  if (state.following.has(taskId)) return;
  const ctl = new AbortController();
  state.following.set(taskId, ctl);
  streamEvents(taskId, ctl.signal)
    .catch(() => pollTask(taskId, ctl.signal))
    .finally(() => state.following.delete(taskId));
}

async function streamEvents(taskId, signal) {
  const res = await fetch(`/api/v1/tasks/${encodeURIComponent(taskId)}/events`, {
    headers: { "X-API-Key": state.key, Accept: "text/event-stream" },
    signal,
  });
  if (!res.ok || !res.body) throw await errorOf(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = frame
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trim())
        .join("\n");
      if (data) await onEvent(taskId, JSON.parse(data));
    }
  }
  await refreshTask(taskId);
}

async function onEvent(taskId, event) {
  const task = state.tasks.get(taskId);
  if (!task) return;
  if (event.kind === "progress" && typeof event.progress === "number") {
    task.progress = Math.max(task.progress, event.progress);
    updateTaskItem(task);
    return;
  }
  await refreshTask(taskId);
}

async function pollTask(taskId, signal) {
  while (!signal.aborted) {
    const task = await refreshTask(taskId);
    if (!task || TERMINAL.has(task.status)) return;
    await new Promise((resolve) => setTimeout(resolve, 1500));
  }
}

async function refreshTask(taskId) {
  let task;
  try {
    task = await api(`/api/v1/tasks/${encodeURIComponent(taskId)}`);
  } catch (err) {
    showError(err);
    return undefined;
  }
  state.tasks.set(task.id, task);
  updateTaskItem(task);
  if (TERMINAL.has(task.status)) refreshCredits();
  if (state.selected && state.selected.taskId === task.id) {
    const clip = task.clips.find((c) => c.id === state.selected.clipId);
    if (clip && clip.status === "complete" && !$("#clip").dataset.complete) renderClip(task, clip);
  }
  return task;
}

function updateTaskItem(task) {
  const old = $(`#task-list [data-task="${CSS.escape(task.id)}"]`);
  if (old) old.replaceWith(taskItem(task));
}

// -- library: one clip ----------------------------------------------------------------

function selectClip(taskId, clipId) {
  state.selected = { taskId, clipId };
  for (const b of $$(".clip-button")) {
    b.setAttribute("aria-pressed", b.dataset.clip === clipId ? "true" : "false");
  }
  const task = state.tasks.get(taskId);
  const clip = task.clips.find((c) => c.id === clipId);
  renderClip(task, clip);
}

function fileUrl(clip, name) {
  return clip.files ? clip.files[name] : undefined;
}

function renderClip(task, clip) {
  if (state.player) state.player.destroy();
  state.player = null;
  const view = $("#clip");
  view.hidden = false;
  view.replaceChildren();
  delete view.dataset.complete;
  view.append(
    el(
      "div",
      { class: "clip-head" },
      el("img", { src: clip.image_url || undefined, alt: `Cover art of ${clip.title || "the clip"}` }),
      el(
        "div",
        {},
        el("h3", { id: "clip-title" }, clip.title || "Untitled"),
        el("p", { class: "meta" }, [clip.tags, clip.model_name, seconds(clip.duration)].filter(Boolean).join(" · ")),
      ),
    ),
  );
  if (clip.status !== "complete") {
    view.append(el("p", { class: "empty" }, clip.status === "error" ? clip.error_message : "Still being made…"));
    return;
  }
  view.dataset.complete = "1";
  state.player = new ClipView(view, task, clip);
}

class ClipView {
  constructor(root, task, clip) {
    this.root = root;
    this.task = task;
    this.clip = clip;
    this.frame = 0;
    this.words = [];
    this.mixer = null;
    this.audio = el("audio", { controls: true, preload: "auto", src: clip.audio_url, "aria-label": "Player" });
    this.canvas = el("canvas", {
      class: "wave",
      width: 900,
      height: 80,
      tabindex: 0,
      role: "slider",
      "aria-label": "Position: press or use the arrow keys to seek",
      "aria-valuemin": 0,
      "aria-valuemax": Math.round(clip.duration || 0),
      "aria-valuenow": 0,
    });
    this.lyrics = el("div", { class: "lyrics", id: "karaoke", "aria-label": "Lyrics" });
    root.append(el("div", { class: "player" }, this.audio, this.canvas));
    root.append(this.lyrics);
    root.append(this.downloads());
    root.append(this.mixerSection());
    root.append(editsSection(task, clip));
    this.canvas.addEventListener("pointerdown", (e) => this.seekAt(e));
    this.canvas.addEventListener("keydown", (e) => this.seekKey(e));
    this.audio.addEventListener("play", () => {
      if (this.mixer) this.mixer.pause();
      this.tick();
    });
    this.audio.addEventListener("seeked", () => this.draw());
    this.loadWave();
    this.loadLyrics();
  }

  destroy() {
    cancelAnimationFrame(this.frame);
    this.audio.pause();
    if (this.mixer) this.mixer.close();
  }

  // The time being heard: the stems mixer's when it plays, else the player's.
  now() {
    return this.mixer && this.mixer.playing ? this.mixer.position() : this.audio.currentTime;
  }

  duration() {
    return this.clip.duration || this.audio.duration || 1;
  }

  tick() {
    cancelAnimationFrame(this.frame);
    const step = () => {
      this.draw();
      this.highlight();
      if (!this.audio.paused || (this.mixer && this.mixer.playing)) {
        this.frame = requestAnimationFrame(step);
      }
    };
    step();
  }

  seekTo(t) {
    const to = Math.max(0, Math.min(this.duration(), t));
    if (this.mixer && this.mixer.playing) this.mixer.seek(to);
    else this.audio.currentTime = to;
    this.draw();
    this.highlight();
  }

  seekAt(event) {
    const box = this.canvas.getBoundingClientRect();
    this.seekTo(((event.clientX - box.left) / box.width) * this.duration());
  }

  seekKey(event) {
    const steps = { ArrowLeft: -5, ArrowRight: 5, Home: -1e9, End: 1e9 };
    if (!(event.key in steps)) return;
    event.preventDefault();
    this.seekTo(this.now() + steps[event.key]);
  }

  async loadWave() {
    try {
      const res = await fetch(this.clip.audio_url);
      const buffer = await decode(await res.arrayBuffer());
      const data = buffer.getChannelData(0);
      const columns = this.canvas.width;
      const per = Math.max(1, Math.floor(data.length / columns));
      this.peaks = new Float32Array(columns);
      for (let c = 0; c < columns; c++) {
        let peak = 0;
        const end = Math.min(data.length, (c + 1) * per);
        for (let i = c * per; i < end; i += 4) peak = Math.max(peak, Math.abs(data[i]));
        this.peaks[c] = peak;
      }
    } catch {
      this.peaks = null; // a player without a waveform still plays
    }
    this.draw();
  }

  draw() {
    const ctx = this.canvas.getContext("2d");
    const { width, height } = this.canvas;
    const played = (this.now() / this.duration()) * width;
    ctx.clearRect(0, 0, width, height);
    const peaks = this.peaks || new Float32Array(width).fill(0.05);
    const top = Math.max(...peaks, 1e-3);
    for (let x = 0; x < width; x++) {
      const h = Math.max(1, (peaks[x] / top) * (height - 6));
      ctx.fillStyle = x < played ? "#f0a83c" : "#4a5163";
      ctx.fillRect(x, (height - h) / 2, 1, h);
    }
    ctx.fillStyle = "#e8eaf0";
    ctx.fillRect(Math.min(width - 2, played), 0, 2, height);
    this.canvas.setAttribute("aria-valuenow", Math.round(this.now()));
    this.canvas.setAttribute("aria-valuetext", `${seconds(this.now())} of ${seconds(this.duration())}`);
  }

  async loadLyrics() {
    const url = fileUrl(this.clip, "lyrics.json");
    let doc = null;
    if (url) {
      try {
        doc = await (await fetch(url)).json();
      } catch {
        doc = null;
      }
    }
    this.words = (doc && Array.isArray(doc.words) ? doc.words : []).filter(
      (w) => typeof w.start_s === "number",
    );
    this.lyrics.replaceChildren();
    if (this.words.length === 0) {
      const text = (doc && doc.lyrics) || this.clip.lyrics || "";
      this.lyrics.append(el("p", { class: "empty" }, text ? text : "Nothing is sung in this clip."));
      return;
    }
    let line = null;
    let lineKey = null;
    let section = null;
    this.spans = [];
    for (const [i, w] of this.words.entries()) {
      if (w.section && w.section !== section) {
        section = w.section;
        this.lyrics.append(el("div", { class: "section" }, section));
      }
      if (line === null || w.line !== lineKey) {
        line = el("p", { class: "line" });
        lineKey = w.line;
        this.lyrics.append(line);
      }
      const span = el("span", { class: "w", "data-i": i }, w.word);
      this.spans.push(span);
      line.append(span, " ");
    }
  }

  highlight() {
    if (!this.spans) return;
    const t = this.now();
    let current = -1;
    for (const [i, w] of this.words.entries()) {
      const span = this.spans[i];
      span.classList.toggle("sung", w.start_s <= t);
      const on = w.start_s <= t && t < w.end_s;
      span.classList.toggle("now", on);
      if (on) current = i;
    }
    if (current >= 0 && current !== this.current) {
      this.current = current;
      this.lyrics.dataset.word = String(current);
      const span = this.spans[current];
      const box = this.lyrics;
      if (span.offsetTop < box.scrollTop || span.offsetTop > box.scrollTop + box.clientHeight - 30) {
        box.scrollTop = span.offsetTop - box.clientHeight / 3;
      }
    }
  }

  downloads() {
    const clip = this.clip;
    const base = (clip.title || "clip").replace(/[^\w\- ]+/g, "").trim() || "clip";
    const links = el("div", { class: "downloads", "aria-label": "Downloads" });
    const link = (label, url, name) =>
      url ? links.append(el("a", { href: url, download: name }, label)) : null;
    link("MP3", clip.audio_url, `${base}.mp3`);
    link("WAV", fileUrl(clip, "song.wav"), `${base}.wav`);
    link("MIDI", fileUrl(clip, "song.mid"), `${base}.mid`);
    if (clip.video_url) link("MP4", clip.video_url, `${base}.mp4`);
    if (this.stemNames().length) {
      links.append(
        el(
          "button",
          { type: "button", class: "quiet", onclick: (e) => act(e.currentTarget, () => this.zipStems(base)) },
          "Stems (zip)",
        ),
      );
    }
    return links;
  }

  stemNames() {
    return Object.keys(this.clip.files || {}).filter((n) => n.startsWith("stems/") && n.endsWith(".wav"));
  }

  async zipStems(base) {
    const entries = [];
    for (const name of this.stemNames()) {
      const res = await fetch(fileUrl(this.clip, name));
      if (!res.ok) throw new ApiError(res.status, "download", `${name}: HTTP ${res.status}`);
      entries.push({ name: `${base}/${name.slice(6)}`, data: new Uint8Array(await res.arrayBuffer()) });
    }
    const blob = zip(entries);
    const a = el("a", { href: URL.createObjectURL(blob), download: `${base} stems.zip` });
    document.body.append(a);
    a.click();
    a.remove();
  }

  mixerSection() {
    const names = this.stemNames();
    const box = el("details", { id: "stems" }, el("summary", {}, `Stems (${names.length})`));
    if (names.length === 0) {
      box.append(el("p", { class: "empty" }, "This clip has no stems."));
      return box;
    }
    const play = el("button", { type: "button", id: "stems-play" }, "Play stems");
    const grid = el("div", { class: "mixer", role: "group", "aria-label": "Stems mixer" });
    const rows = names.map((name) => {
      const label = name.slice(6, -4).replace(/_/g, " ");
      const mute = el("input", { type: "checkbox", "aria-label": `Mute ${label}` });
      const solo = el("input", { type: "checkbox", "aria-label": `Solo ${label}` });
      const row = { name, label, mute, solo };
      const title = el("span", { class: "stem-name", "data-stem": label }, label);
      grid.append(title, el("label", { class: "check" }, mute, "Mute"), el("label", { class: "check" }, solo, "Solo"));
      row.title = title;
      return row;
    });
    const mixer = new StemMixer(rows, this);
    for (const row of rows) {
      row.mute.addEventListener("change", () => mixer.apply());
      row.solo.addEventListener("change", () => mixer.apply());
    }
    mixer.apply();
    play.addEventListener("click", () =>
      act(play, async () => {
        if (mixer.playing) {
          mixer.pause();
          play.textContent = "Play stems";
        } else {
          await mixer.play(this.audio.currentTime);
          play.textContent = "Pause stems";
        }
      }),
    );
    mixer.onstop = () => {
      play.textContent = "Play stems";
    };
    this.mixer = mixer;
    box.append(el("p", {}, play), grid);
    return box;
  }
}

let sharedContext = null;
function audioContext() {
  if (!sharedContext) sharedContext = new AudioContext();
  return sharedContext;
}

function decode(bytes) {
  return audioContext().decodeAudioData(bytes);
}

// Plays every stem in sync through one AudioContext; mute and solo set each stem's gain.
class StemMixer {
  constructor(rows, view) {
    this.rows = rows;
    this.view = view;
    this.buffers = null;
    this.sources = [];
    this.playing = false;
    this.startedAt = 0;
    this.offset = 0;
    this.onstop = null;
  }

  gainOf(row) {
    const anySolo = this.rows.some((r) => r.solo.checked);
    if (row.mute.checked) return 0;
    if (anySolo && !row.solo.checked) return 0;
    return 1;
  }

  apply() {
    for (const row of this.rows) {
      const g = this.gainOf(row);
      row.title.dataset.gain = String(g);
      row.title.classList.toggle("empty", g === 0);
      if (row.gain) row.gain.gain.setTargetAtTime(g, audioContext().currentTime, 0.01);
    }
  }

  async load() {
    if (this.buffers) return;
    this.buffers = await Promise.all(
      this.rows.map(async (row) => {
        const res = await fetch(fileUrl(this.view.clip, row.name));
        if (!res.ok) throw new ApiError(res.status, "download", `${row.label}: HTTP ${res.status}`);
        return decode(await res.arrayBuffer());
      }),
    );
  }

  async play(from) {
    await this.load();
    const ctx = audioContext();
    await ctx.resume();
    this.view.audio.pause();
    this.offset = Math.min(from, this.buffers[0].duration - 0.05);
    const at = ctx.currentTime + 0.05;
    this.sources = this.rows.map((row, i) => {
      const source = ctx.createBufferSource();
      source.buffer = this.buffers[i];
      row.gain = ctx.createGain();
      row.gain.gain.value = this.gainOf(row);
      source.connect(row.gain).connect(ctx.destination);
      source.start(at, Math.max(0, this.offset));
      return source;
    });
    this.sources[0].onended = () => {
      if (this.playing && this.position() >= this.buffers[0].duration - 0.1) this.stop();
    };
    this.startedAt = at;
    this.playing = true;
    this.apply();
    this.view.tick();
  }

  position() {
    if (!this.playing) return this.offset;
    return this.offset + Math.max(0, audioContext().currentTime - this.startedAt);
  }

  seek(t) {
    if (!this.playing) {
      this.offset = t;
      return;
    }
    this.halt();
    this.play(t);
  }

  halt() {
    for (const s of this.sources) {
      s.onended = null;
      try {
        s.stop();
      } catch {
        /* already stopped */
      }
    }
    this.sources = [];
  }

  pause() {
    if (!this.playing) return;
    this.offset = this.position();
    this.halt();
    this.playing = false;
    this.view.audio.currentTime = this.offset;
    if (this.onstop) this.onstop();
  }

  stop() {
    this.pause();
  }

  close() {
    this.halt();
    this.playing = false;
  }
}

// -- a ZIP of stored entries (WAV does not compress; browsers have no zip writer) --------

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function zip(entries) {
  const parts = [];
  const central = [];
  let offset = 0;
  const enc = new TextEncoder();
  for (const entry of entries) {
    const name = enc.encode(entry.name);
    const crc = crc32(entry.data);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true);
    local.setUint16(6, 0x0800, true); // UTF-8 names
    local.setUint32(14, crc, true);
    local.setUint32(18, entry.data.length, true);
    local.setUint32(22, entry.data.length, true);
    local.setUint16(26, name.length, true);
    parts.push(local, name, entry.data);
    const head = new DataView(new ArrayBuffer(46));
    head.setUint32(0, 0x02014b50, true);
    head.setUint16(4, 20, true);
    head.setUint16(6, 20, true);
    head.setUint16(8, 0x0800, true);
    head.setUint32(16, crc, true);
    head.setUint32(20, entry.data.length, true);
    head.setUint32(24, entry.data.length, true);
    head.setUint16(28, name.length, true);
    head.setUint32(42, offset, true);
    central.push(head, name);
    offset += 30 + name.length + entry.data.length;
  }
  const size = central.reduce((n, p) => n + p.byteLength, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, size, true);
  end.setUint32(16, offset, true);
  return new Blob([...parts, ...central, end], { type: "application/zip" });
}

// -- edits of a clip ------------------------------------------------------------------

const EDITS = {
  extend: {
    label: "Extend",
    fields: [
      ["continue_at", "Continue at (seconds)", "number"],
      ["prompt", "New lyrics (optional)", "textarea"],
      ["tags", "Style tags (optional)", "text"],
    ],
    run: (clip, v) =>
      api("/suno/submit/music", {
        method: "POST",
        body: {
          task: "extend",
          continue_clip_id: clip.id,
          continue_at: v.continue_at === "" ? undefined : Number(v.continue_at),
          prompt: v.prompt,
          tags: v.tags || clip.tags,
          mv: clip.model_name || undefined,
        },
      }),
  },
  cover: {
    label: "Cover",
    fields: [
      ["tags", "Style tags of the cover", "text"],
      ["prompt", "Lyrics (optional)", "textarea"],
    ],
    run: (clip, v) =>
      api("/suno/submit/music", {
        method: "POST",
        body: { task: "cover", cover_clip_id: clip.id, tags: v.tags, prompt: v.prompt, mv: clip.model_name || undefined },
      }),
  },
  remaster: {
    label: "Remaster",
    fields: [["variation_category", "Variation", "select:subtle,normal,high"]],
    run: (clip, v) =>
      api("/suno/submit/upsample", {
        method: "POST",
        body: { clip_id: clip.id, model_name: clip.model_name, variation_category: v.variation_category },
      }),
  },
  crop: {
    label: "Crop",
    fields: [
      ["crop_start_s", "Start (seconds)", "number"],
      ["crop_end_s", "End (seconds)", "number"],
      ["is_crop_remove", "Remove this part instead of keeping it", "checkbox"],
    ],
    run: (clip, v) =>
      api("/api/crop", {
        method: "POST",
        body: {
          song_id: clip.id,
          crop_start_s: Number(v.crop_start_s),
          crop_end_s: Number(v.crop_end_s),
          is_crop_remove: v.is_crop_remove,
        },
      }),
  },
  speed: {
    label: "Speed",
    fields: [
      ["speed_multiplier", "Speed (0.25–4)", "number"],
      ["keep_pitch", "Keep the pitch", "checkbox"],
    ],
    run: (clip, v) =>
      api("/suno/submit/speed-adjust", {
        method: "POST",
        body: { clip_id: clip.id, speed_multiplier: Number(v.speed_multiplier), keep_pitch: v.keep_pitch },
      }),
  },
  concat: {
    label: "Whole song (concat)",
    fields: [],
    run: (clip) => api("/suno/submit/concat", { method: "POST", body: { clip_id: clip.id } }),
  },
  video: {
    label: "Music video",
    fields: [],
    run: async (clip) => {
      const answer = await api(`/suno/act/mp4/${encodeURIComponent(clip.id)}`);
      if (answer.video_url) return { video: answer.video_url };
      return answer.task_id;
    },
  },
  persona: {
    label: "Persona",
    fields: [
      ["name", "Name", "text"],
      ["description", "Description", "text"],
    ],
    run: async (clip, v) => {
      const persona = await api("/suno/persona/create", {
        method: "POST",
        body: { root_clip_id: clip.id, clips: [clip.id], name: v.name, description: v.description },
      });
      return { persona };
    },
  },
};

function editsSection(task, clip) {
  const box = el("details", { id: "edits" }, el("summary", {}, "Edit this clip"));
  const choose = el("select", { id: "edit-kind", "aria-label": "Edit" });
  for (const [name, edit] of Object.entries(EDITS)) choose.append(el("option", { value: name }, edit.label));
  const form = el("form", { class: "stack", id: "edit-form" });
  const draw = () => {
    form.replaceChildren();
    const edit = EDITS[choose.value];
    for (const [name, label, kind] of edit.fields) {
      const id = `edit-${name}`;
      if (kind === "checkbox") {
        form.append(el("label", { class: "check" }, el("input", { type: "checkbox", id, name }), label));
      } else if (kind.startsWith("select:")) {
        const select = el("select", { id, name });
        for (const option of kind.slice(7).split(",")) {
          select.append(el("option", { value: option, selected: option === "normal" }, option));
        }
        form.append(el("label", { for: id }, label), select);
      } else if (kind === "textarea") {
        form.append(el("label", { for: id }, label), el("textarea", { id, name, rows: 3 }));
      } else {
        form.append(
          el("label", { for: id }, label),
          el("input", { id, name, type: kind, step: kind === "number" ? "any" : undefined }),
        );
      }
    }
    form.append(el("button", { type: "submit" }, edit.label));
  };
  choose.addEventListener("change", draw);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = {};
    for (const input of $$("input, textarea, select", form)) {
      values[input.name] = input.type === "checkbox" ? input.checked : input.value;
    }
    act(form.querySelector("button[type=submit]"), async () => {
      const result = await EDITS[choose.value].run(clip, values);
      if (typeof result === "string") {
        await adopt(result);
        showOk(`${EDITS[choose.value].label}: on its way (task ${result}).`);
      } else if (result && result.video) {
        showOk("The music video is ready.");
        clip.video_url = result.video;
        renderClip(task, clip);
      } else if (result && result.persona) {
        showOk(`Persona "${result.persona.name}" created (${result.persona.persona_id}).`);
      }
      refreshCredits();
    });
  });
  draw();
  box.append(el("p", {}, choose), form);
  return box;
}

// -- uploads (drag and drop) -----------------------------------------------------------

async function uploadFile(file) {
  const extension = (file.name.split(".").pop() || "mp3").toLowerCase();
  const slot = await api("/suno/api/create_audio_upload", { method: "POST", body: { extension } });
  const form = new FormData();
  for (const [name, value] of Object.entries(slot.fields)) form.append(name, value);
  form.append("file", file);
  const sent = await fetch(slot.url, { method: "POST", body: form });
  if (!sent.ok) throw await errorOf(sent);
  const name = file.name.replace(/\.[^.]+$/, "");
  const taskId = await api("/suno/uploads/audio-url", {
    method: "POST",
    body: { upload_id: slot.upload_id, upload_filename: name, wait_audio: false },
  });
  await adopt(taskId);
  showOk(`${file.name} uploaded.`);
  refreshCredits();
}

function wireDrop() {
  const drop = $("#upload-drop");
  const input = $("#upload-file");
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      input.click();
    }
  });
  input.addEventListener("change", () => {
    if (input.files[0]) act(null, () => uploadFile(input.files[0]));
    input.value = "";
  });
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (file) act(null, () => uploadFile(file));
  });
}

// -- admin ----------------------------------------------------------------------------

async function loadAdmin() {
  await act(null, async () => {
    const [keys, prices, usage, channels] = await Promise.all([
      api("/api/v1/admin/keys?limit=200"),
      api("/api/v1/admin/prices"),
      api("/api/v1/admin/usage"),
      api("/api/v1/admin/channels"),
    ]);
    renderKeys(keys.items);
    renderPrices(prices.items);
    renderUsage(usage.items, keys.items);
    renderChannels(channels.items);
  });
}

function table(node, head, rows) {
  node.replaceChildren(
    el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows),
  );
}

function renderKeys(keys) {
  table(
    $("#keys-table"),
    ["Name", "Prefix", "Credits", "Add credits", "Admin", ""],
    keys.map((key) => {
      const amount = el("input", { type: "number", step: "any", "aria-label": `Credits to add to ${key.name}` });
      const grant = el("button", { type: "button", class: "quiet" }, "Add");
      grant.addEventListener("click", () =>
        act(grant, async () => {
          if (!amount.value) throw new ApiError(400, "invalid", "Give an amount of credits.");
          await api(`/api/v1/admin/keys/${encodeURIComponent(key.id)}/credits`, {
            method: "POST",
            body: { amount: amount.value, note: "console" },
          });
          const added = amount.value;
          await loadAdmin();
          showOk(`${added} credits added to ${key.name}.`);
          refreshCredits();
        }),
      );
      const revoke = el("button", { type: "button", class: "quiet", disabled: key.revoked }, key.revoked ? "Revoked" : "Revoke");
      revoke.addEventListener("click", () =>
        act(revoke, async () => {
          if (!confirm(`Revoke the key "${key.name}"? Its clients stop working at once.`)) return;
          await api(`/api/v1/admin/keys/${encodeURIComponent(key.id)}/revoke`, { method: "POST" });
          await loadAdmin();
        }),
      );
      return el(
        "tr",
        { "data-key": key.id },
        el("td", {}, key.name),
        el("td", {}, key.key_prefix),
        el("td", { class: "num" }, String(key.credits_balance)),
        el("td", {}, amount, " ", grant),
        el("td", {}, key.is_admin ? "yes" : ""),
        el("td", {}, revoke),
      );
    }),
  );
}

// Prices save as they change (a price when its field is left, "enabled" when ticked).
function renderPrices(prices) {
  table(
    $("#prices-table"),
    ["Action", "Price", "Enabled"],
    prices.map((price) => {
      const value = el("input", { type: "number", min: 0, step: "any", value: price.price, "aria-label": `Price of ${price.action}` });
      const enabled = el("input", { type: "checkbox", checked: price.enabled, "aria-label": `${price.action} enabled` });
      const save = (control) =>
        act(control, async () => {
          await api(`/api/v1/admin/prices/${encodeURIComponent(price.action)}`, {
            method: "PUT",
            body: { price: value.value, enabled: enabled.checked },
          });
          showOk(`${price.display_name || price.action}: ${value.value} credits, ${enabled.checked ? "enabled" : "disabled"}.`);
        });
      value.addEventListener("change", () => save(value));
      enabled.addEventListener("change", () => save(enabled));
      return el("tr", { "data-action": price.action }, el("td", {}, price.display_name || price.action), el("td", {}, value), el("td", {}, enabled));
    }),
  );
}

function renderUsage(items, keys) {
  const names = new Map(keys.map((k) => [k.id, k.name]));
  const byAction = new Map();
  for (const row of items) {
    if (row.action) byAction.set(row.action, (byAction.get(row.action) || 0) + Number(row.spent));
  }
  const chart = $("#usage-chart");
  chart.replaceChildren();
  const spent = [...byAction].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  const top = Math.max(1, ...spent.map(([, n]) => n));
  for (const [action, n] of spent) {
    chart.append(
      el("span", { class: "label" }, action),
      el("span", { class: "track" }, el("span", { class: "b", style: `width:${(n / top) * 100}%` })),
      el("span", { class: "num" }, String(n)),
    );
  }
  if (spent.length === 0) chart.append(el("p", { class: "empty" }, "Nothing spent yet."));
  chart.setAttribute(
    "aria-label",
    spent.length ? `Credits spent: ${spent.map(([a, n]) => `${a} ${n}`).join(", ")}` : "Nothing spent yet",
  );
  table(
    $("#usage-table"),
    ["Key", "Action", "Charged", "Refunded", "Spent", "Granted"],
    items.map((row) =>
      el(
        "tr",
        {},
        el("td", {}, names.get(row.key_id) || row.key_id),
        el("td", {}, row.action || "—"),
        el("td", {}, String(row.charged)),
        el("td", {}, String(row.refunded)),
        el("td", {}, String(row.spent)),
        el("td", {}, String(row.granted)),
      ),
    ),
  );
}

function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${Math.round(rate * 100)} %`;
}

function renderChannels(channels) {
  table(
    $("#channels-table"),
    ["Name", "Dialect", "URL", "Models", "Actions", "State", "In flight", "Succeeded", "Mean", "Enabled", ""],
    channels.map((channel) => {
      const health = channel.health;
      const enabled = el("input", { type: "checkbox", checked: channel.enabled, "aria-label": `${channel.name} enabled` });
      enabled.addEventListener("change", () =>
        act(enabled, async () => {
          await api(`/api/v1/admin/channels/${encodeURIComponent(channel.id)}`, {
            method: "PATCH",
            body: { enabled: enabled.checked },
          });
          await loadAdmin();
          showOk(`${channel.name} ${enabled.checked ? "takes new tasks" : "takes no new tasks; those it holds finish there"}.`);
        }),
      );
      const remove = el("button", { type: "button", class: "quiet" }, "Remove");
      remove.addEventListener("click", () =>
        act(remove, async () => {
          if (!confirm(`Remove the channel "${channel.name}"?`)) return;
          await api(`/api/v1/admin/channels/${encodeURIComponent(channel.id)}`, { method: "DELETE" });
          await loadAdmin();
          showOk(`${channel.name} removed.`);
        }),
      );
      return el(
        "tr",
        { "data-channel": channel.id },
        el("td", {}, channel.name),
        el("td", {}, channel.kind),
        el("td", {}, channel.base_url),
        el("td", {}, channel.models.join(", ")),
        el("td", {}, channel.actions.join(", ")),
        el("td", {}, health ? health.state.replace("_", " ") : "not relaying"),
        el("td", { class: "num" }, health ? String(health.in_flight) : "—"),
        el("td", { class: "num" }, health ? `${health.succeeded} (${percent(health.success_rate)})` : "—"),
        el("td", { class: "num" }, health && health.mean_seconds !== null ? `${health.mean_seconds.toFixed(1)} s` : "—"),
        el("td", {}, enabled),
        el("td", {}, remove),
      );
    }),
  );
  if (channels.length === 0) {
    $("#channels-table tbody").append(el("tr", {}, el("td", { colspan: 11, class: "empty" }, "No channel: every song is made here.")));
  }
}

function words(text) {
  return text.split(",").map((w) => w.trim()).filter(Boolean);
}

async function addChannel(event) {
  event.preventDefault();
  await act(event.submitter, async () => {
    const made = await api("/api/v1/admin/channels", {
      method: "POST",
      body: {
        name: $("#channel-name").value.trim(),
        kind: $("#channel-kind").value,
        base_url: $("#channel-url").value.trim(),
        key: $("#channel-key").value,
        models: words($("#channel-models").value),
        actions: words($("#channel-actions").value).map((a) => a.toUpperCase()),
      },
    });
    $("#channel-form").reset();
    await loadAdmin();
    showOk(`Channel ${made.name} added.`);
  });
}

async function createKey(event) {
  event.preventDefault();
  await act(event.submitter, async () => {
    const made = await api("/api/v1/admin/keys", {
      method: "POST",
      body: {
        name: $("#key-name").value.trim(),
        credits: $("#key-credits").value || "0",
        is_admin: $("#key-admin").checked,
      },
    });
    const secret = $("#key-secret");
    secret.textContent = `Key "${made.name}": ${made.secret} (shown once: copy it now)`;
    secret.hidden = false;
    $("#key-form").reset();
    await loadAdmin();
  });
}

// -- start ----------------------------------------------------------------------------

function wire() {
  $("#signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act(event.submitter, () => signIn($("#signin-key").value.trim()));
  });
  $("#sign-out").addEventListener("click", signOut);
  for (const button of $$("#nav button")) button.addEventListener("click", () => show(button.dataset.view));
  for (const radio of $$("input[name=mode]")) radio.addEventListener("change", syncMode);
  $("#create-form").addEventListener("submit", submitCreate);
  $("#filter-status").addEventListener("change", () => loadTasks(true));
  $("#filter-action").addEventListener("change", () => loadTasks(true));
  $("#more-tasks").addEventListener("click", () => loadTasks(false));
  $("#key-form").addEventListener("submit", createKey);
  $("#channel-form").addEventListener("submit", addChannel);
  wireDrop();
}

async function start() {
  wire();
  try {
    await loadConfig();
  } catch (err) {
    showError(err);
  }
  if (state.key) {
    await act(null, () => signIn(state.key));
  }
}

start();
