// Hot clicks: draws each tracked link's share of the clicks on the delivery's own HTML.
// The HTML sits in a sandboxed frame (no script of its own runs, its own policy lets only
// its inline styles and its own images load); this script, served by tracker, reads the
// numbers from the page and marks each link numbered by decorate.
"use strict";
(function () {
  const frame = document.getElementById("hot-frame");
  const data = JSON.parse(document.getElementById("hot-data").textContent);
  const shares = new Map(data.links.map((l) => [String(l.link), l]));
  function heat(share) {
    // From pale yellow (few clicks) to deep red (most), by share of all clicks.
    const hue = Math.round(55 - 55 * Math.min(1, share * 2));
    return `hsl(${hue}, 95%, ${Math.round(70 - 25 * Math.min(1, share * 2))}%)`;
  }
  function fit() {
    const doc = frame.contentDocument;
    if (doc && doc.documentElement) {
      frame.style.height = `${doc.documentElement.scrollHeight + 20}px`;
    }
  }
  function draw() {
    const doc = frame.contentDocument;
    // Before the email loads, the frame holds an empty about:blank document.
    if (!doc || !doc.URL.endsWith("/email") || doc.querySelector(".tracker-hot")) return;
    for (const link of doc.querySelectorAll("a[data-tracker-link]")) {
      const entry = shares.get(link.dataset.trackerLink);
      const share = entry ? entry.share : 0;
      const badge = doc.createElement("span");
      badge.className = "tracker-hot";
      badge.dataset.link = link.dataset.trackerLink;
      badge.textContent = `${(share * 100).toFixed(1)} %`;
      badge.title = `link ${link.dataset.trackerLink}: ${entry ? entry.clicks : 0} clicks`;
      Object.assign(badge.style, {
        background: heat(share), color: "#111", font: "bold 12px system-ui, sans-serif",
        padding: "1px 5px", borderRadius: "4px", marginLeft: "4px", whiteSpace: "nowrap",
        display: "inline-block",
      });
      link.style.outline = `3px solid ${heat(share)}`;
      link.insertAdjacentElement("afterend", badge);
    }
    // Following a link from the frame is not a click of a recipient: it goes nowhere.
    doc.addEventListener("click", (event) => {
      if (event.target.closest && event.target.closest("a")) event.preventDefault();
    });
    fit();
    // Images load after the document: fit the frame again as each one arrives.
    for (const img of doc.images) img.addEventListener("load", fit);
  }
  frame.addEventListener("load", draw);
  if (frame.contentDocument && frame.contentDocument.readyState === "complete") draw();
})();
