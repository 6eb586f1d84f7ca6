// Friction console: progressive enhancement only; every page works without this file.
// Filters apply as soon as a select changes (the form's submit button stays for keyboards and no-JS).
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('form[data-autosubmit] select').forEach(function (select) {
    select.addEventListener('change', function () { select.form.submit(); });
  });
  // Ask before a status change that hides an incident from the default lists.
  document.querySelectorAll('button[data-confirm]').forEach(function (button) {
    button.addEventListener('click', function (event) {
      if (!window.confirm(button.getAttribute('data-confirm'))) { event.preventDefault(); }
    });
  });
});
