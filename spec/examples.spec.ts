/**
 * Every program under examples/ runs here against the test server (`MONGODB_URI`), as a user
 * runs it: the Express and Connect apps on a free port (`PORT=0`), answering a browser that
 * keeps its cookie, then stopped with SIGTERM; the others to their end. They import the package
 * by its name, so the build (`npm run build`) comes first.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Document } from 'mongodb';
import { useSpecDatabase } from './support/database.js';
import { HttpClient, sessionIdOf } from './support/http.js';
import { type Finished, runProgram } from './support/programs.js';
import { ROOT } from './support/sandbox.js';

const database = useSpecDatabase(import.meta.url);
const LISTENING = /http:\/\/127\.0\.0\.1:(\d+)\//;

/** The databases the examples use, dropped after each. */
const EXAMPLE_DATABASES = [
  'example_app',
  'example_v5_style',
  'example_repository',
  'example_mongoose',
  'example_account_page',
  'example_connect_passport',
];

/** A device's entry in the account page's list (examples/account-page.mjs). */
interface Device {
  readonly handle: string;
  readonly current: boolean;
  readonly createdAt: string | null;
  readonly lastActiveAt: string | null;
  readonly expires: string;
}

/**
 * Runs an example; an app gets `onPort` called with a browser, a way to open more browsers
 * (each with a cookie jar of its own) on the same app, and the app's address.
 */
async function run(
  file: string,
  onPort?: (browser: HttpClient, newBrowser: () => HttpClient, url: string) => Promise<void>,
): Promise<Finished> {
  const args = file.endsWith('.ts') ? ['--import', 'tsx', file] : [file];
  const result = await runProgram(args, {
    env: { MONGODB_URI: database.uri, PORT: '0' },
    timeoutMs: 30_000,
    portPattern: LISTENING,
    onPort: async (port) => {
      const url = `http://127.0.0.1:${port}`;
      const newBrowser = () => new HttpClient(url);
      await onPort?.(newBrowser(), newBrowser, url);
    },
  });
  const printed = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  assert.equal(result.signal, null, `${file} ended by itself or on SIGTERM\n${printed}`);
  assert.equal(result.code, 0, `${file} exits with 0\n${printed}`);
  assert.equal(
    result.served,
    onPort !== undefined,
    `${file} listens only if it is an app\n${printed}`,
  );
  return result;
}

test.afterEach(async () => {
  for (const name of EXAMPLE_DATABASES) await database.client.db(name).dropDatabase();
});

test('every file of examples/ is run by this spec', async () => {
  const files = (await readdir(join(ROOT, 'examples'))).sort();
  assert.deepEqual(files, [
    'account-page.mjs',
    'connect-passport.mjs',
    'express-app.ts',
    'express-v5-style.cjs',
    'mongoose.mjs',
    'repository.mjs',
  ]);
});

test('express-app.ts (npm start) counts visits in a stored session, logs in and out', async () => {
  await run('examples/express-app.ts', async (browser) => {
    const first = await browser.get('/');
    assert.equal(first.status, 200, 'the page answers');
    assert.match(first.body, /Visits in this session: <strong>1<\/strong>/);
    const second = await browser.get('/');
    assert.match(second.body, /Visits in this session: <strong>2<\/strong>/);
    const stored = await database.client.db('example_app').collection('sessions').countDocuments();
    assert.equal(stored, 1, 'one session is stored');
    const logout = await browser.post('/logout');
    assert.equal(logout.status, 302, 'log out redirects');
    const sessions = database.client.db('example_app').collection('sessions');
    assert.equal(
      await sessions.countDocuments({ endedAt: { $exists: false } }),
      0,
      'no session is left',
    );
    assert.equal(
      await sessions.countDocuments({ endedAt: { $exists: true } }),
      1,
      'the id is kept as ended, so that a request still running cannot store the session again',
    );
  });
});

test('express-v5-style.cjs: the version 5 factory in CommonJS, its callback and a counting session', async () => {
  const result = await run('examples/express-v5-style.cjs', async (browser) => {
    assert.equal((await browser.get('/')).body, 'Views: 1');
    assert.equal((await browser.get('/')).body, 'Views: 2');
    const stored = await database.client.db('example_v5_style').collection('mySessions').findOne();
    assert.equal(stored?.session?.views, 2, 'the session is stored as version 5 stored it');
  });
  assert.match(
    result.stdout,
    /Session store connected/,
    'the constructor callback reports the connection',
  );
});

test('repository.mjs runs the await API to its end', async () => {
  const { stdout } = await run('examples/repository.mjs');
  assert.match(stdout, /sid-ann belongs to ann/);
  assert.match(stdout, /sessions stored: 3/);
  assert.match(stdout, /logged out of 2 sessions; left: sid-bob/);
});

test("mongoose's driver is a copy other than the store's, as the README says, so mongoose.mjs shows the store taking it", async () => {
  const fromRoot = createRequire(join(ROOT, 'package.json'));
  const fromMongoose = createRequire(fromRoot.resolve('mongoose'));
  const storeDriver = fromRoot.resolve('mongodb/package.json');
  const mongooseDriver = fromMongoose.resolve('mongodb/package.json');
  assert.notEqual(mongooseDriver, storeDriver, 'mongoose loads a driver of its own');
  const { version } = JSON.parse(await readFile(mongooseDriver, 'utf8')) as { version: string };
  assert.match(version, /^6\./, `mongoose's driver is version 6 (${version})`);
});

test("mongoose.mjs: the store shares mongoose's client, and mongoose still works after store.close()", async () => {
  const { stdout } = await run('examples/mongoose.mjs');
  assert.match(stdout, /session sid-1 belongs to ann/);
  assert.match(stdout, /after store\.close\(\): mongoose has 1 user\(s\)/);
});

/** Logs `browser` in as `user` on the account page example, and gives its list of devices. */
async function logIn(browser: HttpClient, user: string): Promise<Device[]> {
  const login = await browser.post(`/login?user=${user}`);
  assert.equal(login.status, 200, `logging in as ${user} answers 200 (${login.body})`);
  return devicesOf(browser);
}

async function devicesOf(browser: HttpClient): Promise<Device[]> {
  const response = await browser.get('/devices');
  assert.equal(response.status, 200, `the list of devices answers 200 (${response.body})`);
  return JSON.parse(response.body) as Device[];
}

function currentHandle(devices: readonly Device[]): string {
  const current = devices.filter((device) => device.current);
  assert.equal(current.length, 1, 'exactly one device of the list is the current one');
  return current[0]?.handle ?? '';
}

test('account-page.mjs lists a user’s devices, signs out one of them, then every other one', async () => {
  await run('examples/account-page.mjs', async (laptop, newBrowser) => {
    const phone = newBrowser();
    const tablet = newBrowser();
    const phoneHandle = currentHandle(await logIn(phone, 'ann'));
    const tabletHandle = currentHandle(await logIn(tablet, 'ann'));
    const devices = await logIn(laptop, 'ann');
    const laptopHandle = currentHandle(devices);

    assert.deepEqual(
      devices.map((device) => device.handle).sort(),
      [laptopHandle, phoneHandle, tabletHandle].sort(),
      'the list holds the three devices, each once',
    );
    for (const device of devices) {
      assert.match(device.handle, /^[\w-]{22}$/, 'a handle is 128 bits in base64url');
      assert.ok(device.createdAt !== null && device.lastActiveAt !== null, 'times are known');
      assert.ok(Date.parse(device.expires) > Date.now(), 'each device expires in the future');
    }
    assert.equal(
      JSON.stringify(devices).includes(sessionIdOf(laptop.cookie('connect.sid'))),
      false,
      'the list shows no session id',
    );

    const one = await laptop.post(`/devices/${phoneHandle}/sign-out`);
    assert.deepEqual(JSON.parse(one.body), { signedOut: 1 }, 'one device is signed out');
    assert.equal((await phone.get('/devices')).status, 401, 'the phone is logged out');
    assert.deepEqual(
      (await devicesOf(laptop)).map((device) => device.handle).sort(),
      [laptopHandle, tabletHandle].sort(),
      'the phone is gone from the list',
    );

    const others = await laptop.post('/devices/sign-out-others');
    assert.deepEqual(JSON.parse(others.body), { signedOut: 1 }, 'the tablet is signed out');
    assert.equal((await tablet.get('/devices')).status, 401, 'the tablet is logged out');
    const left = await devicesOf(laptop);
    assert.deepEqual(
      left.map((device) => [device.handle, device.current]),
      [[laptopHandle, true]],
      'only the current device is left',
    );

    assert.equal((await laptop.post('/logout')).status, 200, 'logging out answers 200');
    assert.equal((await laptop.get('/devices')).status, 401, 'the laptop is logged out');
    const sessions = database.client.db('example_account_page').collection('sessions');
    assert.equal(
      await sessions.countDocuments({ endedAt: { $exists: false } }),
      0,
      'no session of ann is left',
    );
  });
});

test("account-page.mjs: a handle of another user's device signs nothing out", async () => {
  await run('examples/account-page.mjs', async (ann, newBrowser) => {
    const bob = newBrowser();
    const bobHandle = currentHandle(await logIn(bob, 'bob'));
    const annDevices = await logIn(ann, 'ann');
    assert.equal(annDevices.length, 1, "ann's list holds her own device only");

    const attempt = await ann.post(`/devices/${bobHandle}/sign-out`);
    assert.deepEqual(JSON.parse(attempt.body), { signedOut: 0 }, 'nothing is signed out');
    assert.equal(currentHandle(await devicesOf(bob)), bobHandle, 'bob is still logged in');
  });
});

interface FormReply {
  readonly status: number;
  readonly location: string | null;
  readonly body: string;
}

/**
 * Posts an HTML form as a browser does, with `browser`'s cookies, and keeps the cookies the
 * answer sets in its jar (HttpClient sends no bodies).
 */
async function postForm(
  browser: HttpClient,
  url: string,
  path: string,
  form: Record<string, string>,
): Promise<FormReply> {
  const cookie = browser.cookie('connect.sid');
  const response = await fetch(new URL(path, url), {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(cookie === undefined ? {} : { cookie: `connect.sid=${cookie}` }),
    },
    body: new URLSearchParams(form),
  });
  for (const header of response.headers.getSetCookie()) {
    const pair = header.split(';', 1)[0] ?? '';
    const separator = pair.indexOf('=');
    browser.setCookie(pair.slice(0, separator), pair.slice(separator + 1));
  }
  return {
    status: response.status,
    location: response.headers.get('location'),
    body: await response.text(),
  };
}

test('connect-passport.mjs: login regenerates the session id, /profile needs the login, logout ends the session', async () => {
  await run('examples/connect-passport.mjs', async (browser, newBrowser, url) => {
    const sessions = database.client.db('example_connect_passport').collection('sessions');
    assert.equal((await browser.get('/')).body, 'Views before logging in: 1');
    const anonymous = sessionIdOf(browser.cookie('connect.sid'));
    assert.equal((await browser.get('/profile')).status, 401, 'the profile needs a login');
    const wrong = await postForm(browser, url, '/login', { username: 'ann', password: 'wrong' });
    assert.equal(wrong.status, 401, 'a wrong password logs nobody in');

    const login = await postForm(browser, url, '/login', {
      username: 'ann',
      password: 'correct horse',
    });

    assert.deepEqual([login.status, login.location], [302, '/profile'], login.body);
    const loggedIn = sessionIdOf(browser.cookie('connect.sid'));
    assert.notEqual(loggedIn, anonymous, 'login gives a new session id');
    const ended = await sessions.findOne({ _id: anonymous } as Document);
    assert.ok(ended?.endedAt instanceof Date, 'the session id from before the login has ended');
    assert.equal(ended?.session, null);
    const profile = await browser.get('/profile');
    assert.deepEqual([profile.status, profile.body], [200, 'Logged in as ann']);
    const stolen = newBrowser();
    stolen.setCookie('connect.sid', browser.cookie('connect.sid') ?? '');

    const logout = await browser.post('/logout');

    assert.deepEqual([logout.status, logout.headers.location], [302, '/']);
    assert.equal((await browser.get('/profile')).status, 401, 'the browser is logged out');
    assert.equal((await stolen.get('/profile')).status, 401, 'the logged-in cookie opens nothing');
    const stillIn = await sessions.countDocuments({
      endedAt: { $exists: false },
      'session.passport.user': { $exists: true },
    });
    assert.equal(stillIn, 0, 'no live session holds a login');
  });
});
