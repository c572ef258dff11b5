import type { Config } from '../../schema/index.ts';
import type { Diagnostic } from '../diagnostics.ts';

/**
 * A semantic rule: a pure function of the schema-valid config returning every problem it finds
 * (errors and warnings). Rules never throw and never stop at the first problem.
 */
export type Rule = (config: Config) => Diagnostic[];
