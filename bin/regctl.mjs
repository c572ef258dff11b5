#!/usr/bin/env node
// Thin launcher: lets Node load the TypeScript sources (and TypeScript config files) directly.
import { register } from 'tsx/esm/api';

register();
await import('./regctl.ts');
