() => {
  // Name what assistive technology reads out: each hidden file input after its block's label, and each example
  // thumbnail after the file it shows.
  const name = () => {
    for (const input of document.querySelectorAll('input[type=file]')) {
      const block = input.closest('.block');
      const label = block && block.querySelector('[data-testid=block-label], .label');
      if (label && label.textContent.trim()) input.setAttribute('aria-label', label.textContent.trim());
    }
    for (const img of document.querySelectorAll('img')) {
      if (!img.getAttribute('alt')) {
        const file = decodeURIComponent((img.src || '').split('/').pop() || '').replace(/[-_]/g, ' ').replace(/\.\w+$/, '');
        if (file) img.setAttribute('alt', file);
      }
    }
  };
  new MutationObserver(name).observe(document.body, {childList: true, subtree: true});
  name();
}
