"""The web chat's stylesheet and its one small script, kept apart from the layout (``ui``).

The script does only what the server cannot: it takes a click on a ``[n]`` in the answer to that source's card
(scrolled into view, highlighted, focused, opened if folded away), and it shows a banner while the page cannot
reach its server (checked every few seconds with a request to the page's own origin, nowhere else). Colours come from
the theme's variables (set in ``ui.launch_options`` for WCAG AA contrast), so the dark theme gets its own.
"""

CSS = """
#cqa-title h1 {font-size: 1.6rem; margin: 0 0 4px 0;}
#cqa-title p {margin: 0;}
.cqa-card {border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px; margin-bottom: 10px;
  scroll-margin: 80px;}
.cqa-card.cqa-focus {outline: 3px solid var(--link-text-color); outline-offset: 2px;
  background: var(--background-fill-secondary);}
.cqa-n {font-weight: 700; color: var(--link-text-color);}
.cqa-title {font-weight: 600;}
.cqa-meta {font-size: 0.9em; margin: 4px 0; color: var(--body-text-color);}
.cqa-kind, .cqa-score {font-size: 12px; line-height: 1.5; border: 1px solid var(--border-color-primary);
  border-radius: 4px; padding: 0 5px; margin-left: 4px; white-space: nowrap; display: inline-block;
  color: var(--body-text-color);}
.cqa-quote {margin: 6px 0; padding: 4px 8px; border-left: 3px solid var(--link-text-color);
  background: var(--background-fill-secondary); font-style: italic; color: var(--body-text-color);}
.cqa-quote mark {background: #fde68a; color: #111827; font-style: normal;}
.cqa-gap {display: block; height: 6px;}
.cqa-links a {margin-right: 8px; color: var(--link-text-color); text-decoration: underline;}
.cqa-empty {font-style: italic; color: var(--body-text-color);}
.cqa-subjects {font-size: 0.9em; margin: 4px 0;}
.cqa-filters {display: inline-block; border: 1px solid var(--link-text-color); border-radius: 12px; padding: 2px 10px;
  font-size: 0.9em; color: var(--body-text-color);}
.cqa-warn {border-color: #b42318; color: #b42318;}
.cqa-for {font-size: 1em; margin: 0 0 8px 0;}
.cqa-earlier summary, .cqa-also summary {cursor: pointer; margin: 6px 0;}
#cqa-status {min-height: 1.4em; color: var(--body-text-color);}
#cqa-status .cqa-busy::before {content: ""; display: inline-block; width: 0.8em; height: 0.8em; margin-right: 6px;
  border: 2px solid var(--link-text-color); border-right-color: transparent; border-radius: 50%;
  animation: cqa-spin 0.9s linear infinite; vertical-align: -1px;}
@keyframes cqa-spin {to {transform: rotate(360deg);}}
#cqa-offline {background: #b42318; color: #fff; padding: 8px 12px; border-radius: 6px; font-weight: 600;}
#cqa-offline[hidden] {display: none;}
.cqa-sr {position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
  clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0;}
a.cqa-cite {color: var(--link-text-color) !important; font-weight: 600; text-decoration: none; white-space: nowrap;}
a.cqa-cite:hover, a.cqa-cite:focus {text-decoration: underline;}
#cqa-chat .prose {opacity: 1 !important;}
#cqa-examples button {white-space: normal; text-align: left; height: auto; min-height: 2.4em;}
.subdued {color: var(--input-placeholder-color) !important;}
textarea::placeholder, input::placeholder {color: var(--input-placeholder-color) !important; opacity: 1;}
@media (max-width: 720px) {
  #cqa-chat {height: 52vh !important; max-height: 52vh !important;}
  #cqa-examples button {min-width: 100% !important;}
}
"""

HEAD = """
<script>
(() => {
  const reveal = (id) => {
    const card = document.getElementById(id);
    if (!card) return false;
    document.querySelectorAll('.cqa-card.cqa-focus').forEach((c) => c.classList.remove('cqa-focus'));
    for (let d = card.closest('details'); d; d = d.parentElement && d.parentElement.closest('details')) d.open = true;
    card.classList.add('cqa-focus');
    card.scrollIntoView({behavior: 'smooth', block: 'center'});
    card.focus({preventScroll: true});
    return true;
  };
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#source-"]');
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    reveal(link.getAttribute('href').slice(1));
  }, true);
  let failures = 0;
  const check = async () => {
    const banner = document.getElementById('cqa-offline');
    if (!banner) return;
    try {
      await fetch(new URL('gradio_api/app_id', document.baseURI), {cache: 'no-store'});
      failures = 0;
      banner.hidden = true;
    } catch (error) {
      failures += 1;
      if (failures >= 1) banner.hidden = false;
    }
  };
  setInterval(check, 3000);
})();
</script>
"""

OFFLINE_BANNER = ('<div id="cqa-offline" role="alert" hidden>Lost the connection to the Checkpoint QA server. '
                  'Questions cannot be answered until it is running again (start it with <code>make run</code> or '
                  '<code>checkpoint-qa chat</code>); this page reconnects by itself.</div>')
