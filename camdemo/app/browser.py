"""What the page adds in the browser: the phone layout and a script for searchable dropdowns.

(The URL script is ``camdemo.app.share.WRITE_URL_JS``; Enter in the class box is
``camdemo.app.classes.ENTER_SENDS_TEXT``.)
"""

# Clicking a searchable dropdown selects its text, so typing "espresso" replaces the current choice
# instead of being appended to it (Gradio's dropdown keeps the text on focus).
SELECT_ON_FOCUS = """<script>
document.addEventListener("focusin", (event) => {
  const field = event.target;
  if (field instanceof HTMLInputElement && field.getAttribute("role") === "combobox") {
    const shown = field.value;  // select it a moment later, unless typing has already begun
    setTimeout(() => { if (field.value === shown) field.select(); }, 0);
  }
});
</script>"""

# On a phone the two columns stack; without this the result would come after every control. The controls
# column dissolves (display: contents) so the upload, the result and the settings can be ordered. Tables
# scroll sideways instead of wrapping one character per line.
PHONE_CSS = """
@media (max-width: 700px) {
  #camdemo-explain { flex-direction: column !important; }
  #camdemo-controls { display: contents !important; }
  #camdemo-results { order: 1; width: 100%; }
  #camdemo-settings { order: 2; width: 100%; }
}
.prose table { display: block; overflow-x: auto; max-width: 100%; }
.prose th, .prose td { white-space: nowrap; }
"""
