// The console's only script besides htmx: the API key's show/hide toggle. Kept in a file so the
// Content-Security-Policy can refuse every inline script.
document.addEventListener("click", function (event) {
  var button = event.target.closest("#toggle-key");
  if (!button) return;
  var input = document.getElementById(button.getAttribute("aria-controls"));
  if (!input) return;
  var show = input.type === "password";
  input.type = show ? "text" : "password";
  button.textContent = show ? button.dataset.hide : button.dataset.show;
  button.setAttribute("aria-pressed", show ? "true" : "false");
});
