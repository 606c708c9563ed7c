import { version } from '../package.json';

export const VERSION = version;
export const USER_AGENT = `Private-Checkpoint/${VERSION}`;
