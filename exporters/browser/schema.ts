/**
 * The `browser:` section of a module: the journey as a list of steps, how long a step may wait,
 * the artifacts kept on failure, and how the shared Chromium is launched. The start URL is the
 * target; the journey always begins by loading it (step 0).
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration, StrictObject, StringEnum } from '../../src/config/schema-helpers';
import { SecretFile } from '../../src/config/secrets';

/** Bounded so that the `step` label cannot grow without limit. */
export const MAX_STEPS = 50;

export const ARIA_ROLES = [
  'alert',
  'alertdialog',
  'application',
  'article',
  'banner',
  'blockquote',
  'button',
  'caption',
  'cell',
  'checkbox',
  'code',
  'columnheader',
  'combobox',
  'complementary',
  'contentinfo',
  'definition',
  'deletion',
  'dialog',
  'directory',
  'document',
  'emphasis',
  'feed',
  'figure',
  'form',
  'generic',
  'grid',
  'gridcell',
  'group',
  'heading',
  'img',
  'insertion',
  'link',
  'list',
  'listbox',
  'listitem',
  'log',
  'main',
  'marquee',
  'math',
  'meter',
  'menu',
  'menubar',
  'menuitem',
  'menuitemcheckbox',
  'menuitemradio',
  'navigation',
  'none',
  'note',
  'option',
  'paragraph',
  'presentation',
  'progressbar',
  'radio',
  'radiogroup',
  'region',
  'row',
  'rowgroup',
  'rowheader',
  'scrollbar',
  'search',
  'searchbox',
  'separator',
  'slider',
  'spinbutton',
  'status',
  'strong',
  'subscript',
  'superscript',
  'switch',
  'tab',
  'table',
  'tablist',
  'tabpanel',
  'term',
  'textbox',
  'time',
  'timer',
  'toolbar',
  'tooltip',
  'tree',
  'treegrid',
  'treeitem',
] as const;
export type AriaRole = (typeof ARIA_ROLES)[number];

/**
 * How a step finds its element, the Playwright way: exactly one of `role` (with `name`), `text`,
 * `label`, `placeholder`, `test_id` or `css`.
 */
const LocatorKeys = {
  role: Type.Optional(StringEnum(ARIA_ROLES, { description: 'ARIA role, as getByRole' })),
  name: Type.Optional(Type.String({ minLength: 1, description: 'the accessible name, with role' })),
  text: Type.Optional(Type.String({ minLength: 1, description: 'visible text, as getByText' })),
  label: Type.Optional(Type.String({ minLength: 1, description: 'a form control by its label, as getByLabel' })),
  placeholder: Type.Optional(Type.String({ minLength: 1 })),
  test_id: Type.Optional(Type.String({ minLength: 1, description: 'data-testid' })),
  css: Type.Optional(Type.String({ minLength: 1, description: 'a CSS selector' })),
  exact: Type.Optional(Type.Boolean({ description: 'match name, text, label or placeholder exactly (case and whole string)' })),
};
export const LOCATOR_KEYS = ['role', 'text', 'label', 'placeholder', 'test_id', 'css'] as const;

const LocatorSchema = StrictObject(LocatorKeys);
const FillSchema = StrictObject({
  ...LocatorKeys,
  value: Type.Optional(Type.String({ description: 'the text to type' })),
  value_file: Type.Optional(SecretFile({ description: 'a file holding the text to type, a secret: never logged or traced' })),
});
const PressSchema = StrictObject({ ...LocatorKeys, key: Type.String({ minLength: 1, description: 'a key or chord as Playwright names it: Enter, Control+A' }) });
const SelectSchema = StrictObject({ ...LocatorKeys, option: Type.String({ description: 'the option, by value or label' }) });
const WaitForSchema = StrictObject({
  ...LocatorKeys,
  state: Type.Optional(StringEnum(['visible', 'hidden', 'attached', 'detached'], { description: 'with a locator; default visible' })),
  url: Type.Optional(Type.String({ minLength: 1, description: 'a URL, a path on the target, or a glob such as **/home' })),
  network_idle: Type.Optional(Type.Boolean({ description: 'no request for 500 ms' })),
});

export const STEP_KINDS = ['goto', 'click', 'fill', 'press', 'select', 'wait_for', 'expect_text', 'expect_url', 'expect_title', 'screenshot', 'script'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

/** One step: exactly one of the kinds (checked by validate), maybe a name and a timeout of its own. */
const StepSchema = StrictObject({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'the step label is <index>-<name>; default <index>-<kind>' })),
  timeout: Type.Optional(Duration({ description: 'overrides step_timeout for this step' })),
  goto: Type.Optional(Type.String({ minLength: 1, description: 'a URL or a path on the target' })),
  click: Type.Optional(LocatorSchema),
  fill: Type.Optional(FillSchema),
  press: Type.Optional(PressSchema),
  select: Type.Optional(SelectSchema),
  wait_for: Type.Optional(WaitForSchema),
  expect_text: Type.Optional(Type.String({ minLength: 1, description: 'text somewhere visible on the page' })),
  expect_url: Type.Optional(Type.String({ minLength: 1, description: 'as wait_for.url' })),
  expect_title: Type.Optional(Type.String({ description: 'the whole title, whitespace normalised' })),
  screenshot: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', patternMessage: 'must be a short name of letters, digits, _ and -' })),
  script: Type.Optional(Type.String({ minLength: 1, description: 'a CommonJS file exporting async (page, context, journey) => void' })),
});

const ArtifactsSchema = StrictObject(
  {
    dir: Type.Optional(Type.String({ minLength: 1, description: 'default: <tmpdir>/checkpoint-browser-artifacts' })),
    max_bytes: Type.Integer({ minimum: 0, default: 100 * 1024 * 1024, description: 'oldest files go first once the directory holds more' }),
    max_age: Duration({ default: '7d' }),
  },
  { default: {} },
);

/** The shared browser: modules with the same launch settings share one Chromium process. */
const LaunchSchema = StrictObject(
  {
    executable_path: Type.String({ minLength: 1, default: '/usr/bin/chromium' }),
    args: Type.Array(Type.String({ pattern: '^--', patternMessage: 'must be a command line switch starting with --' }), { default: [], description: 'added to the defaults' }),
    sandbox: Type.Optional(Type.Boolean({ description: "default: off when the checkpoint runs as root (Chromium's sandbox refuses root), on otherwise" })),
  },
  { default: {} },
);

export const BrowserSettingsSchema = StrictObject({
  steps: Type.Array(StepSchema, { maxItems: MAX_STEPS, default: [] }),
  step_timeout: Duration({ default: '10s', description: 'how long a step waits for its element, page or condition; never past the deadline' }),
  max_concurrent_journeys: Type.Integer({ minimum: 1, maximum: 64, default: 2, description: 'journeys at once in the shared browser before this module waits for a slot' }),
  ignore_https_errors: Type.Boolean({ default: false }),
  screenshots: Type.Boolean({ default: true, description: 'a screenshot of the page when a step fails' }),
  traces: Type.Boolean({ default: false, description: 'a Playwright trace of the journey when a step fails' }),
  artifacts: ArtifactsSchema,
  launch: LaunchSchema,
});

export type BrowserSettings = Static<typeof BrowserSettingsSchema>;
export type Step = Static<typeof StepSchema>;
export type LocatorSettings = Static<typeof LocatorSchema>;
export type LaunchSettings = Static<typeof LaunchSchema>;
