/**
 * Errors from the API name its options (`DeFlow.register options.leaseMs`); a CLI user typed
 * flags. The options a flag sets are named by that flag in what the CLI prints.
 */
const FLAG_OF_OPTION: Readonly<Record<string, string>> = {
  backend: '--backend',
  prefix: '--prefix',
  schema: '--schema',
  leaseMs: '--lease',
  checkProcessQueueInterval: '--check-interval',
  startupTimeout: '--startup-timeout',
};

const OPTION_NAME = new RegExp(`(?:DeFlow\\.register )?(?:options\\.)?\\b(${Object.keys(FLAG_OF_OPTION).join('|')})\\b(?= |$|[,;.)])`, 'g');

/** Only the camel-case option names are rewritten bare: "backend" is an ordinary word too. */
export function inFlagTerms(message: string): string {
  return message.replace(OPTION_NAME, (whole: string, option: string) =>
    whole.includes('options.') || /[A-Z]/.test(option) ? (FLAG_OF_OPTION[option] ?? whole) : whole,
  );
}
