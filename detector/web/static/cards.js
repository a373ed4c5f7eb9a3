// On a phone, tables with a header row are shown as stacked cards (portal.css); each cell is then
// labelled with its column's header, copied here into data-label. Without this file the cards
// still show every value, only without the labels.
for (const table of document.querySelectorAll("table")) {
  const head = table.tHead && table.tHead.rows[0];
  if (!head) continue;
  const labels = Array.from(head.cells, (cell) => cell.textContent.trim());
  for (const body of table.tBodies) {
    for (const row of body.rows) {
      Array.from(row.cells).forEach((cell, i) => {
        if (labels[i] && cell.colSpan === 1) cell.dataset.label = labels[i];
      });
    }
  }
}
