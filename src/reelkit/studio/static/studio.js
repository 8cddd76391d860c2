// reelkit studio: upload with progress, job polling, deleting a video, the headline lab and the archive chat.
"use strict";

async function api(path, options = {}) {
  const response = await fetch(path, {credentials: "same-origin", ...options});
  const body = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function postJSON(path, data) {
  return api(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(data)});
}

function showError(id, message) {
  const element = document.getElementById(id);
  element.textContent = message;
  element.hidden = !message;
}

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

function setUpUpload() {
  const form = document.getElementById("upload-form");
  if (!form) return;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = document.getElementById("video-file").files[0];
    if (!file) return;
    const headline = document.getElementById("headline").value.trim();
    const query = new URLSearchParams({filename: file.name});
    if (headline) query.set("headline", headline);
    const bar = document.getElementById("upload-progress");
    bar.hidden = false;
    showError("upload-error", "");
    // XMLHttpRequest rather than fetch: it reports upload progress.
    const request = new XMLHttpRequest();
    request.open("POST", `/api/videos?${query}`);
    request.setRequestHeader("Content-Type", "application/octet-stream");
    request.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.round(100 * e.loaded / e.total); };
    request.onload = () => {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch (_) { /* not JSON: reported below */ }
      if (request.status === 201) { window.location.href = body.url; return; }
      bar.hidden = true;
      showError("upload-error", body.error || `upload failed (HTTP ${request.status})`);
    };
    request.onerror = () => { bar.hidden = true; showError("upload-error", "upload failed: the server could not be reached"); };
    request.send(file);
  });
}

function setUpJob() {
  const box = document.getElementById("job");
  if (box && box.dataset.job) {
    const poll = async () => {
      try {
        const job = await api(`/api/jobs/${box.dataset.job}`);
        document.getElementById("job-status").textContent = job.status;
        document.getElementById("job-stage").textContent = job.stage;
        document.getElementById("job-progress").value = Math.round(100 * job.progress);
        if (job.status === "done" || job.status === "failed") { window.location.reload(); return; }
      } catch (_) { /* a restarting server: keep polling */ }
      setTimeout(poll, 1000);
    };
    setTimeout(poll, 500);
  }
  const remove = document.getElementById("delete-video");
  if (remove) {
    remove.addEventListener("click", async () => {
      if (!window.confirm(`Delete ${remove.dataset.filename} and all its results? This cannot be undone.`)) return;
      showError("delete-error", "");
      remove.disabled = true;
      try {
        await api(`/api/videos/${remove.dataset.video}`, {method: "DELETE"});
        window.location.href = "/";
      } catch (error) {
        showError("delete-error", error.message);
        remove.disabled = false;
      }
    });
  }
  const overlays = document.getElementById("overlays-form");
  if (overlays) {
    overlays.addEventListener("submit", async (event) => {
      event.preventDefault();
      showError("overlays-error", "");
      const button = document.getElementById("save-overlays");
      button.disabled = true;
      try {
        const texts = [...overlays.querySelectorAll(".overlay-text")].map((input) => input.value);
        const saved = await api(`/api/videos/${overlays.dataset.video}/overlays`, {
          method: "PUT", headers: {"Content-Type": "application/json"},
          body: JSON.stringify({job: Number(overlays.dataset.job), texts}),
        });
        if (saved.removed) { window.location.reload(); return; }  // the table has fewer lines now
        const note = document.getElementById("overlays-saved");
        note.textContent = `Saved (${saved.edited} line${saved.edited === 1 ? "" : "s"} changed).`;
        note.hidden = false;
      } catch (error) {
        showError("overlays-error", error.message);
      }
      button.disabled = false;
    });
  }
  const again = document.getElementById("reanalyse-form");
  if (again) {
    again.addEventListener("submit", async (event) => {
      event.preventDefault();
      showError("reanalyse-error", "");
      try {
        const headline = document.getElementById("reanalyse-headline").value;
        await postJSON(`/api/videos/${again.dataset.video}/analyse`, {headline});
        window.location.reload();
      } catch (error) {
        showError("reanalyse-error", error.message);
      }
    });
  }
}

function setUpVideoList() {
  const cells = () => [...document.querySelectorAll("[data-status-of]")];
  const busy = () => cells().some((cell) => /queued|running/.test(cell.className));
  if (!busy()) return;
  const poll = async () => {
    try {
      const videos = await api("/api/videos");
      for (const video of videos) {
        const cell = document.querySelector(`[data-status-of="${video.id}"]`);
        if (!cell || !video.job) continue;
        cell.className = `status-${video.job.status}`;
        cell.textContent = video.job.status === "running" ? `running (${Math.round(100 * video.job.progress)}%)` : video.job.status;
      }
    } catch (_) { /* a restarting server: keep polling */ }
    if (busy()) setTimeout(poll, 2000);
  };
  setTimeout(poll, 2000);
}

function setUpHeadlineLab() {
  const form = document.getElementById("headline-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("lab-error", "");
    const headline = document.getElementById("lab-headline").value.trim();
    const alternatives = document.getElementById("lab-alternatives").value.split("\n").map((s) => s.trim()).filter(Boolean);
    const button = document.getElementById("lab-improve");
    button.disabled = true;
    try {
      const result = await postJSON("/api/headlines/improve", {headline, alternatives, n: 10});
      document.getElementById("lab-original").textContent =
        `“${result.original.headline}”: ×${Math.exp(result.original.score).toFixed(2)} the channel's typical views`;
      const table = document.getElementById("lab-variants");
      const body = table.querySelector("tbody");
      body.replaceChildren();
      for (const variant of result.variants) {
        const row = element("tr", {class: "variant"});
        row.append(element("td", {}, variant.headline), element("td", {}, `×${variant.multiplier}`), element("td", {}, variant.reason));
        body.append(row);
      }
      table.hidden = false;
    } catch (error) {
      showError("lab-error", error.message);
    } finally {
      button.disabled = false;
    }
  });
}

function setUpArchive() {
  const form = document.getElementById("ask-form");
  if (!form) return;
  const chat = document.getElementById("chat");
  const key = "reelkit-conversation";
  document.getElementById("new-conversation").addEventListener("click", () => {
    sessionStorage.removeItem(key);
    chat.replaceChildren();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("question");
    const question = input.value.trim();
    if (!question) return;
    showError("ask-error", "");
    chat.append(element("div", {class: "message user"}, question));
    input.value = "";
    try {
      const conversation = sessionStorage.getItem(key);
      const result = await postJSON("/api/archive/ask", conversation ? {question, conversation_id: conversation} : {question});
      sessionStorage.setItem(key, result.conversation_id);
      const message = element("div", {class: "message bot"});
      message.append(element("p", {class: "answer"}, result.answer.text));
      if (result.answer.citations && result.answer.citations.length) {
        const list = element("ol", {class: "citations"});
        for (const cited of result.answer.citations) {
          const item = element("li", {class: "citation"});
          if (cited.thumbnail_url) item.append(element("img", {src: cited.thumbnail_url, alt: "", class: "cited-thumbnail"}));
          const label = [cited.title, cited.filename, cited.channel, cited.date].filter(Boolean).join(" · ");
          if (cited.studio_url) item.append(element("a", {href: cited.studio_url}, label));
          else if (cited.url) item.append(element("a", {href: cited.url, rel: "noreferrer", target: "_blank"}, label));
          else item.append(document.createTextNode(label));
          list.append(item);
        }
        message.append(list);
      }
      chat.append(message);
      message.scrollIntoView({block: "end"});
    } catch (error) {
      showError("ask-error", error.message);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpUpload();
  setUpJob();
  setUpVideoList();
  setUpHeadlineLab();
  setUpArchive();
});
