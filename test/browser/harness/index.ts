/** The Node side of the browser-test harness. See test/browser/README.md. */

export type { Browser, BrowserContext, Page } from 'playwright-core';
export * from './browser.js';
export * from './contract.js';
export * from './long-tasks.js';
export * from './main-thread.js';
