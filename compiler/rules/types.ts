import type { Config } from '../../schema/index.ts';
import type { Diagnostic } from '../diagnostics.ts';

/** What a rule may know beyond the config itself. */
export interface RuleContext {
  /** The folder relative paths in the config resolve against, when the config is a file. */
  readonly configDir?: string;
}

/**
 * A semantic rule: a pure function of the schema-valid config returning every problem it finds
 * (errors and warnings). Rules never throw and never stop at the first problem.
 */
export type Rule = (config: Config, context: RuleContext) => Diagnostic[];
