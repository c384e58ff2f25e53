// The settings dialog and the server information it shows.

import { saveSettings, sessionUpdate, wakeName } from './settings.js';
import { $, app, connection, send, ui } from './state.js';

// --- settings -----------------------------------------------------------------------------------

function fillSettingsForm() {
  const form = ui.settingsForm.elements;
  const defaults = app.ready?.session || app.session || {};
  form.voice.value = app.settings.voice;
  form.language.value = app.settings.language;
  form.system_prompt.value = app.settings.system_prompt;
  form.wake_word.value = app.settings.wake_word;
  form.wake_word.options[0].textContent = `Server default (${defaults.wake_word ? wakeName(defaults.wake_word) : 'off'})`;
  form.voice.placeholder = `Server default${defaults.voice ? ` (${defaults.voice})` : ''}`;
  form.language.placeholder = `Server default${defaults.language ? ` (${defaults.language})` : ''}`;
  form.system_prompt.placeholder = defaults.system_prompt || 'Server default';
  $('#default-mode').textContent = defaults.turn_mode === 'vad' ? 'hands-free' : defaults.turn_mode
    ? 'push-to-talk' : 'unknown';
  ui.tokenForget.hidden = !connection.token;
}

ui.settingsButton.addEventListener('click', () => {
  fillSettingsForm();
  ui.settingsDialog.showModal();
});
ui.settingsCancel.addEventListener('click', () => ui.settingsDialog.close());
ui.settingsReset.addEventListener('click', () => {
  const form = ui.settingsForm.elements;
  form.voice.value = form.language.value = form.system_prompt.value = form.wake_word.value = '';
});
ui.settingsForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const form = ui.settingsForm.elements;
  app.settings.voice = form.voice.value.trim();
  app.settings.language = form.language.value.trim().toLowerCase();
  app.settings.system_prompt = form.system_prompt.value.trim();
  app.settings.wake_word = form.wake_word.value;
  saveSettings(app.settings);
  ui.settingsDialog.close();
  if (app.ready) send({ type: 'session.update', session: sessionUpdate(app.settings, app.ready.session) });
});

export function showServerInfo() {
  const engines = app.ready?.engines;
  const session = app.session;
  if (!engines || !session) return;
  const language = session.language === 'auto' ? 'auto-detect' : session.language;
  const rows = [['Speech to text', engines.stt], ['Chat model', engines.chat], ['Speech', engines.tts],
    ['Language', language], ['Voice', session.voice || 'default'],
    ['Wake word', session.wake_word ? wakeName(session.wake_word) : 'off'],
    ['Audio', `${session.input_audio?.rate} Hz in, ${session.output_audio?.rate} Hz out`]];
  ui.serverInfo.replaceChildren(...rows.flatMap(([term, value]) => {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = String(value ?? '');
    return [dt, dd];
  }));
}
