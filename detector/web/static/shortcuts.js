// Review shortcuts on the match page, as review tools have: C confirm, R reject, A authorized,
// N next unreviewed match. The page works without this file: it only presses the buttons and
// links that carry data-shortcut, and stays out of the way while the reviewer types a note.
document.addEventListener("keydown", (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey || event.defaultPrevented) return;
  if (event.target.closest("input, textarea, select, [contenteditable]")) return;
  const target = document.querySelector(`[data-shortcut="${CSS.escape(event.key.toLowerCase())}"]`);
  if (!target) return;
  event.preventDefault();
  target.click();
});
