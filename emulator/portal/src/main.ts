/**
 * The portal's entry: reads the workspace id the emulator wrote into the page, signs in with the API token from
 * the URL fragment (removed from the address bar at once), from this tab's storage or from the sign-in form, then
 * starts the signed-in session. See emulator/portal/README.md.
 */
import { ApiError, describeError, ManagementApi } from './api';
import { PortalSession } from './app';
import { byId } from './dom';
import { fragmentWithoutToken, readFragment, tabStore } from './session';
import { LoginView } from './views/login';

const workspaceId =
  document.querySelector<HTMLMetaElement>('meta[name="spotflow-workspace-id"]')?.content ?? '';
byId('workspace-id').textContent = workspaceId || '(unknown)';
document.title = `Spotflow emulator · ${workspaceId}`;

const store = tabStore(() => sessionStorage);
const tokenKey = `spotflow-emulator-api-token:${workspaceId}`;
const app = byId('app');
const forget = byId('forget', HTMLButtonElement);
const login = new LoginView((token) => void signIn(token));

let session: PortalSession | undefined;
let wanted = takeFragment();

/** Reads the fragment; a token in it is removed from the address bar (and from history) at once. */
function takeFragment() {
  const parts = readFragment(location.hash);
  if (parts.apiToken !== undefined) {
    history.replaceState(null, '', location.pathname + location.search + fragmentWithoutToken(location.hash));
  }
  return parts;
}

function signOut(message: string): void {
  session?.stop();
  session = undefined;
  store.remove(tokenKey);
  app.hidden = true;
  forget.hidden = true;
  login.announceOperation(wanted.operation);
  login.show(message);
}

async function signIn(token: string): Promise<void> {
  login.checking();
  try {
    // Any authenticated call tells whether the emulator takes the token.
    await new ManagementApi(workspaceId, token).settings();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      signOut('The emulator refused this API token (401). Copy it again from the emulator’s output.');
    } else {
      // Keep the token in the form, so "Sign in" retries once the emulator is back.
      signOut('');
      login.show(`Could not check the token: ${describeError(error)}`, 'error', token);
    }
    return;
  }
  store.set(tokenKey, token);
  login.hide();
  app.hidden = false;
  forget.hidden = false;
  session?.stop();
  session = new PortalSession(workspaceId, token, store, () =>
    signOut(
      'The emulator refused the API token (401): it may have restarted with a new one. Paste the current one.',
    ),
  );
  session.start(wanted);
}

forget.addEventListener('click', () => signOut(''));

window.addEventListener('hashchange', () => {
  wanted = takeFragment();
  if (wanted.apiToken !== undefined) {
    void signIn(wanted.apiToken);
    return;
  }
  if (wanted.operation !== undefined) session?.openOperation(wanted.operation);
  if (wanted.device !== undefined) session?.selectDevice(wanted.device);
  if (!session) login.announceOperation(wanted.operation);
});

// Ctrl/Cmd+Enter submits the form of the focused field.
document.addEventListener('keydown', (event) => {
  if (event.key !== 'Enter' || !(event.ctrlKey || event.metaKey)) return;
  const form = event.target instanceof Element ? event.target.closest('form') : null;
  if (form) {
    event.preventDefault();
    form.requestSubmit();
  }
});

setInterval(() => session?.tick(), 1000);

const initial = wanted.apiToken ?? store.get(tokenKey);
if (initial) void signIn(initial);
else signOut('');
