/**
 * The command line of a browser prober's Chromium: Playwright's switches, then ours, then the
 * module's `launch.args`.
 *
 * Chromium takes only the last --disable-features switch: a second one replaces the first whole.
 * So ours, placed after Playwright's, carries Playwright's features too, and a module's own
 * --disable-features is merged into it instead of replacing both lists.
 */
import type { LaunchSettings } from './schema';

/**
 * Playwright adds --headless, --no-first-run, --disable-background-networking,
 * --disable-component-update and --disable-sync itself; they are repeated so that a closed
 * network stays quiet (no calls to Google hosts) even if a Playwright release drops one.
 */
const DEFAULT_ARGS = ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-domain-reliability'];

const DISABLE_FEATURES = '--disable-features=';

/**
 * Playwright's own list (playwright-core 1.65): among them the features that would call Google
 * hosts from a closed network. browser.test.ts checks that it still holds everything Playwright
 * passes, so an upgrade that adds one fails the test instead of losing the feature.
 */
const PLAYWRIGHT_DISABLED_FEATURES = [
  'AvoidUnnecessaryBeforeUnloadCheckSync',
  'DestroyProfileOnBrowserClose',
  'HttpsUpgrades',
  'HttpsFirstBalancedModeAutoEnable',
  'LensOverlay',
  'MediaRouter',
  'PaintHolding',
  'ThirdPartyStoragePartitioning',
  'AvoidCorsURLLoaderRestartOnRedirect',
  'TcpPortRandomizationWin',
  'OptimizationHints',
  'NetworkTimeServiceQuerying',
  'AimEnabled',
  'PreconnectToSearch',
  'msForceBrowserSignIn',
  'msEdgeUpdateLaunchServicesPreferredVersion',
];

/**
 * What a journey does not need and paid for in CPU (measured with bench/browser-journeys.ts):
 * - WebUIOmniboxPopup, WebUIOmniboxAimPopup: the address bar's drop-downs, which headless
 *   Chromium preloads in every window, and each journey's context opens a window: two renderer
 *   processes per journey that nobody sees, ~0.6 s of the ~1.4 s of CPU a login journey took.
 * - SpareRendererForSitePerProcess: a renderer started ahead for the next site; a journey that
 *   stays on its site never uses it, and it goes with the context.
 */
export const CHECKPOINT_DISABLED_FEATURES = ['WebUIOmniboxPopup', 'WebUIOmniboxAimPopup', 'SpareRendererForSitePerProcess'];

export function launchArgs(launch: LaunchSettings): string[] {
  // Chromium's sandbox cannot run as root; elsewhere it stays on unless switched off.
  const sandbox = launch.sandbox ?? process.getuid?.() !== 0;
  const moduleFeatures = launch.args.filter((arg) => arg.startsWith(DISABLE_FEATURES)).flatMap((arg) => arg.slice(DISABLE_FEATURES.length).split(','));
  const features = [...new Set([...PLAYWRIGHT_DISABLED_FEATURES, ...CHECKPOINT_DISABLED_FEATURES, ...moduleFeatures])].filter((feature) => feature !== '');
  const moduleArgs = launch.args.filter((arg) => !arg.startsWith(DISABLE_FEATURES));
  return [...new Set([...DEFAULT_ARGS, ...(sandbox ? [] : ['--no-sandbox']), `${DISABLE_FEATURES}${features.join(',')}`, ...moduleArgs])];
}
