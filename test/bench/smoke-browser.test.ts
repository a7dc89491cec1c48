// `npm run bench --smoke`, the cases that drive Chromium (see smoke.ts).
import { chromiumCases, smokeCases } from './smoke.js';

smokeCases('npm run bench --smoke: the Chromium cases', chromiumCases);
