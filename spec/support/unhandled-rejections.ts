/**
 * Records every unhandled rejection (and, through the monitor event, which changes nothing about
 * how Node handles it, every uncaught exception) of the test process, so that a fault spec fails
 * when the store lets one escape, even where node:test would only print a warning about
 * asynchronous activity after a test ended.
 */
import assert from 'node:assert/strict';
import { after, afterEach } from 'node:test';
import { inspect } from 'node:util';

export interface Escaped {
  readonly kind: 'unhandledRejection' | 'uncaughtException';
  readonly error: unknown;
}

const escaped: Escaped[] = [];
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  process.on('unhandledRejection', (error) => {
    escaped.push({ kind: 'unhandledRejection', error });
  });
  process.on('uncaughtExceptionMonitor', (error) => {
    escaped.push({ kind: 'uncaughtException', error });
  });
}

export interface EscapeRecorder {
  /** Everything recorded since the process started. */
  readonly all: readonly Escaped[];
  /** Fails, listing them, if anything was recorded since the last check. */
  assertNone(): void;
}

/**
 * Installs the recorder and checks it after every test of the calling suite and once more after
 * the suite, which catches rejections from timers that outlive a test.
 */
export function useUnhandledRejectionRecorder(): EscapeRecorder {
  install();
  let checked = escaped.length;
  const assertNone = () => {
    const fresh = escaped.slice(checked);
    checked = escaped.length;
    assert.equal(
      fresh.length,
      0,
      `escaped the store: ${fresh.map(({ kind, error }) => `${kind}: ${inspect(error)}`).join('\n')}`,
    );
  };
  afterEach(assertNone);
  after(async () => {
    // One turn of the event loop for rejections whose handlers would come too late.
    await new Promise((resolve) => setImmediate(resolve));
    assertNone();
  });
  return {
    get all() {
      return escaped;
    },
    assertNone,
  };
}
