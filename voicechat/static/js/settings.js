// User settings kept in localStorage. An empty value means "the server's default", so a server whose
// defaults change is followed unless the user chose otherwise.

const KEY = 'voicechat.settings';
// wake_word: '' = the server's default, 'off' = none, else a word the server has (hands-free only).
const DEFAULTS = { mode: 'push_to_talk', voice: '', language: '', system_prompt: '', wake_word: '' };

export function loadSettings() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || '{}');
    return { ...DEFAULTS, ...pick(saved) };
  } catch {
    return { ...DEFAULTS };
  }
}

export function saveSettings(settings) {
  localStorage.setItem(KEY, JSON.stringify(pick(settings)));
}

function pick(source) {
  const out = {};
  for (const key of Object.keys(DEFAULTS)) {
    if (typeof source?.[key] === 'string') out[key] = source[key];
  }
  if (out.mode && out.mode !== 'vad' && out.mode !== 'push_to_talk') delete out.mode;
  return out;
}

/**
 * The `session` of a session.update for these settings. A fresh session starts with the server's
 * defaults, so empty fields are left out; after an edit (`serverDefaults` given) a cleared field is
 * set back to the server's default explicitly.
 */
export function sessionUpdate(settings, serverDefaults = null) {
  const session = { turn_mode: settings.mode };
  for (const key of ['voice', 'language', 'system_prompt']) {
    const value = settings[key].trim();
    if (value) session[key] = value;
    else if (serverDefaults && serverDefaults[key] != null) session[key] = serverDefaults[key];
    else if (serverDefaults && key === 'voice') session.voice = ''; // back to the language's own voice
  }
  const wake = settings.wake_word.trim();
  if (wake) session.wake_word = wake === 'off' ? null : wake;
  else if (serverDefaults && 'wake_word' in serverDefaults) session.wake_word = serverDefaults.wake_word;
  return session;
}

/** `hey_jarvis` -> `Hey Jarvis`: how a wake word is said. */
export function wakeName(word) {
  return word.split('_').map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join(' ');
}
