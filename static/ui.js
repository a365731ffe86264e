// The dashboard's own script: shows each <time> in the viewer's time zone, readable
// ("30 Nov 2026, 11:34", or "30 Nov 2026" for a day), with the exact UTC value on hover. Without it the page still
// reads right, in UTC.
"use strict";
(function () {
  const format = new Intl.DateTimeFormat("en-GB", {
    day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
  });
  const dayFormat = new Intl.DateTimeFormat("en-GB", {
    day: "numeric", month: "short", year: "numeric",
  });
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const el of document.querySelectorAll("time[datetime]")) {
    const moment = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(moment.getTime())) continue;
    el.textContent = ("day" in el.dataset ? dayFormat : format).format(moment);
    el.title = `${el.getAttribute("datetime")} (shown in ${zone})`;
    el.dataset.local = zone;
  }
})();
