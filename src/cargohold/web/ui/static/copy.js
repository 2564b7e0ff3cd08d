// Copy buttons: shown only when JavaScript runs; each copies the text of its target.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var target = document.getElementById(button.dataset.copy);
      if (!target || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(target.textContent.trim()).then(function () {
        button.dataset.copied = "true";
        setTimeout(function () { delete button.dataset.copied; }, 1500);
      });
    });
  });
});
