// Where JavaScript runs, a <select data-autosubmit> applies its choice as soon as it
// changes; its form's button stays for browsers without JavaScript.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      if (select.form) { select.form.requestSubmit(); }
    });
  });
});
