// Keyboard shortcuts for the review app. The pages work without this file: every action is
// a link or a form button, and each shortcut clicks one of them.
(function () {
  "use strict";

  const page = document.body.dataset.page;
  const help = document.getElementById("help");
  let submitting = false;

  const byId = (id) => document.getElementById(id);
  const typing = (el) =>
    el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  const follow = (id) => {
    const link = byId(id);
    if (link) window.location.href = link.href;
  };
  const press = (id) => {
    const button = byId(id);
    // One verdict per page: a second key press while the first is on its way would only
    // come back as a conflict with oneself.
    if (!button || submitting) return;
    submitting = true;
    button.form.requestSubmit(button);
  };
  // Offsets on the server count code points; JavaScript strings count UTF-16 units.
  const codePoints = (text) => Array.from(text).length;

  function openCorrection() {
    const box = byId("correction");
    if (!box) return;
    box.open = true;
    const first = box.querySelector("select, input");
    if (first) first.focus();
  }

  function useSelection() {
    const context = byId("context");
    const selection = window.getSelection();
    if (!context || !selection.rangeCount || selection.isCollapsed) return;
    const range = selection.getRangeAt(0);
    if (!context.contains(range.startContainer) || !context.contains(range.endContainer)) return;
    const before = document.createRange();
    before.selectNodeContents(context);
    before.setEnd(range.startContainer, range.startOffset);
    const start = Number(context.dataset.start) + codePoints(before.toString());
    openCorrection();
    byId("field-start").value = start;
    byId("field-end").value = start + codePoints(range.toString());
  }

  function selectRow(rows, index) {
    if (!rows.length) return;
    const i = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach((row) => row.classList.remove("selected"));
    rows[i].classList.add("selected");
    rows[i].scrollIntoView({ block: "nearest" });
  }

  function queueKey(event) {
    const rows = Array.from(document.querySelectorAll("tr.item-row"));
    const current = rows.findIndex((row) => row.classList.contains("selected"));
    switch (event.key) {
      case "j":
      case "ArrowDown":
        selectRow(rows, current + 1);
        break;
      case "k":
      case "ArrowUp":
        selectRow(rows, current - 1);
        break;
      case "Enter":
      case "o":
        if (current >= 0) window.location.href = rows[current].querySelector("a.item-link").href;
        break;
      case "f":
        byId("filter-doc").focus();
        break;
      case "]":
        follow("next-page");
        break;
      case "[":
        follow("prev-page");
        break;
      default:
        return;
    }
    event.preventDefault();
  }

  function itemKey(event) {
    switch (event.key) {
      case "a":
        press("accept");
        break;
      case "r":
        press("reject");
        break;
      case "c":
        openCorrection();
        break;
      case "s":
        useSelection();
        break;
      case "m":
        if (byId("comment")) byId("comment").focus();
        break;
      case "j":
      case "n":
        follow("next-item");
        break;
      case "k":
      case "p":
        follow("prev-item");
        break;
      case "o":
        follow("article-link");
        break;
      case "q":
        follow("back-to-queue");
        break;
      default:
        return;
    }
    event.preventDefault();
  }

  document.addEventListener("keydown", (event) => {
    const correcting = byId("correction") && byId("correction").open;
    if (event.key === "Enter" && event.ctrlKey && correcting) {
      event.preventDefault();
      press("save-correction");
      return;
    }
    if (event.key === "Escape") {
      if (typing(document.activeElement)) document.activeElement.blur();
      help.hidden = true;
      return;
    }
    if (typing(event.target)) {
      const inCorrection = event.target.closest("#correction");
      if (event.key === "Enter" && inCorrection && event.target.tagName !== "TEXTAREA") {
        event.preventDefault();
        press("save-correction");
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "?") {
      help.hidden = !help.hidden;
      return;
    }
    if (page === "queue") queueKey(event);
    else if (page === "item") itemKey(event);
    else if (page === "article" && event.key === "q") follow("back-to-item");
  });

  byId("help-toggle").addEventListener("click", () => {
    help.hidden = !help.hidden;
  });
  document.addEventListener("submit", () => {
    submitting = true;
  });
  if (page === "queue") selectRow(Array.from(document.querySelectorAll("tr.item-row")), 0);
  // Tells a test (or a curious reviewer) that the keys now work.
  document.body.dataset.shortcuts = "on";
})();
