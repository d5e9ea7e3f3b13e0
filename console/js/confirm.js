// The preview of a change: what it will do, in the agent's words, then
// Confirm or Cancel.  Resolves true only on Confirm.

import { byId, el } from './dom.js';

const dialog = byId('confirm');
const okButton = byId('confirm-ok');

let settle = null;

function close(answer) {
  if (settle) settle(answer);
  settle = null;
  if (dialog.open) dialog.close();
}

okButton.addEventListener('click', () => close(true));
byId('confirm-cancel').addEventListener('click', () => close(false));
dialog.addEventListener('cancel', () => close(false));

// lines: strings or nodes, one paragraph each; canProceed false leaves
// only Cancel, for a change that would do nothing
export function preview(title, lines, { canProceed = true, confirmLabel = 'Confirm' } = {}) {
  close(false);
  byId('confirm-title').textContent = title;
  byId('confirm-body').replaceChildren(...lines.map((line) => el('p', {}, line)));
  okButton.textContent = confirmLabel;
  okButton.hidden = !canProceed;
  dialog.showModal();
  (canProceed ? okButton : byId('confirm-cancel')).focus();
  return new Promise((resolve) => { settle = resolve; });
}
