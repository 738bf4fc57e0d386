// sensesim driven by Qlik's enigma.js (schema 12.612.0) over wss with the exported client
// certificates, the way a Node admin tool connects to a Sense node.  Started by
// tests/enigma/test_enigma.py, which runs a sensesim site with the demo seed and passes:
// SENSESIM_ENGINE (wss://host:port), SENSESIM_QRS (https://host:port), SENSESIM_CERTS (folder).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createRequire } from 'node:module';
import enigma from 'enigma.js';
import WebSocket from 'ws';

const require = createRequire(import.meta.url);
const schema = require('enigma.js/schemas/12.612.0.json');

const certs = process.env.SENSESIM_CERTS;
const tls = {
  ca: readFileSync(join(certs, 'root.pem')),
  cert: readFileSync(join(certs, 'client.pem')),
  key: readFileSync(join(certs, 'client_key.pem')),
};
const USER = 'UserDirectory=INTERNAL; UserId=sa_repository';
const APP = '6a2e4c1b-8d3f-4a5e-9b7c-1d2e3f4a5b6c'; // demo seed: Sales Dashboard
const SHEET = '7d1f2a3b-sheet-overview';
const RELOAD_TASK = '8b4d6f0a-2c4e-4a6b-8d0f-2e4a6c8e0a2c';

function open(path = `/app/${APP}`) {
  const session = enigma.create({
    schema,
    url: `${process.env.SENSESIM_ENGINE}${path}`,
    createSocket: (url) => new WebSocket(url, { ...tls, headers: { 'X-Qlik-User': USER } }),
  });
  return session;
}

function qrs(method, path, body) {
  const xrfkey = 'abcdefghij012345';
  const url = new URL(`${process.env.SENSESIM_QRS}${path}`);
  url.searchParams.set('xrfkey', xrfkey);
  return new Promise((resolve, reject) => {
    const request = https.request(url, {
      method,
      ...tls,
      headers: { 'X-Qlik-Xrfkey': xrfkey, 'X-Qlik-User': USER, 'Content-Type': 'application/json' },
    }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { text += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, text }));
    });
    request.on('error', reject);
    request.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

let session;
let doc;

before(async () => {
  session = open();
  const global = await session.open();
  doc = await global.openDoc(APP);
});

after(async () => {
  await session.close();
});

test('doc list and engine version', async () => {
  const listing = open('');
  const global = await listing.open();
  const docs = await global.getDocList();
  assert.ok(docs.some((d) => d.qDocId === APP && d.qDocName === 'Sales Dashboard'));
  assert.equal((await global.engineVersion()).qComponentVersion, '12.612.0');
  const streams = await global.getStreamList();
  assert.ok(streams.some((s) => s.qName === 'Sales'));
  await listing.close();
});

test('app properties, layout and script', async () => {
  const props = await doc.getAppProperties();
  assert.equal(props.qTitle, 'Sales Dashboard');
  const layout = await doc.getAppLayout();
  assert.equal(layout.qFileName, APP);
  assert.equal(layout.qLocaleInfo.qDateFmt, 'YYYY-MM-DD');
  assert.match(await doc.getScript(), /SQL SELECT OrderID/);
});

test('variables with evaluated qText', async () => {
  const today = await doc.getVariableByName('vToday');
  const layout = await today.getLayout();
  assert.equal(layout.qText, await doc.evaluate('Today()'));
  assert.equal(typeof layout.qNum, 'number');
  const target = await (await doc.getVariableByName('vTarget')).getLayout();
  assert.equal(target.qText, '1500000');
});

async function listItems(def, key) {
  const object = await doc.createSessionObject(def);
  const layout = await object.getLayout();
  return layout[key].qItems;
}

test('sheet, measure, dimension, bookmark and field lists', async () => {
  const sheets = await listItems({ qInfo: { qType: 'SheetList' }, qAppObjectListDef: { qType: 'sheet', qData: { title: '/qMetaDef/title' } } }, 'qAppObjectList');
  assert.ok(sheets.some((s) => s.qInfo.qId === SHEET));
  const measures = await listItems({ qInfo: { qType: 'MeasureList' }, qMeasureListDef: { qType: 'measure', qData: { title: '/title' } } }, 'qMeasureList');
  assert.ok(measures.some((m) => m.qInfo.qId === 'msr-revenue'));
  const dimensions = await listItems({ qInfo: { qType: 'DimensionList' }, qDimensionListDef: { qType: 'dimension', qData: { title: '/title' } } }, 'qDimensionList');
  assert.ok(dimensions.some((d) => d.qInfo.qId === 'dim-region'));
  const bookmarks = await listItems({ qInfo: { qType: 'BookmarkList' }, qBookmarkListDef: { qType: 'bookmark' } }, 'qBookmarkList');
  assert.ok(bookmarks.some((b) => b.qInfo.qId === 'bm-emea'));
  const fields = await listItems({ qInfo: { qType: 'FieldList' }, qFieldListDef: { qShowSrcTables: true } }, 'qFieldList');
  const region = fields.find((f) => f.qName === 'Region');
  assert.equal(region.qCardinal, 3);
  assert.deepEqual(region.qSrcTables, ['Orders']);
});

test('tables and keys', async () => {
  const result = await doc.getTablesAndKeys({ qcx: 1000, qcy: 1000 }, { qcx: 0, qcy: 0 }, 30, true, false);
  const names = result.qtr.map((t) => t.qName).sort();
  assert.deepEqual(names, ['Calendar', 'Customers', 'Orders', 'Products']);
  assert.ok(result.qk.some((k) => k.qKeyFields[0] === 'CustomerID'));
});

test('hypercube with data pages, evaluate and selections', async () => {
  const total = Number(await doc.evaluate('Sum(Amount)'));
  assert.ok(total > 0);
  const value = await doc.evaluateEx('Count(DISTINCT OrderID)');
  assert.equal(value.qIsNumeric, true);
  const cube = await doc.createSessionObject({
    qInfo: { qType: 'table' },
    qHyperCubeDef: {
      qDimensions: [{ qDef: { qFieldDefs: ['Region'] } }],
      qMeasures: [{ qDef: { qDef: 'Sum(Amount)' } }],
      qInitialDataFetch: [{ qTop: 0, qLeft: 0, qWidth: 2, qHeight: 1 }],
    },
  });
  const layout = await cube.getLayout();
  assert.equal(layout.qHyperCube.qSize.qcy, 3);
  assert.equal(layout.qHyperCube.qDataPages[0].qMatrix.length, 1);
  const pages = await cube.getHyperCubeData('/qHyperCubeDef', [{ qTop: 0, qLeft: 0, qWidth: 2, qHeight: 3 }]);
  const sum = pages[0].qMatrix.reduce((acc, row) => acc + row[1].qNum, 0);
  assert.equal(sum, total);
  const emea = pages[0].qMatrix.find((row) => row[0].qText === 'EMEA');
  const field = await doc.getField('Region');
  assert.equal(await field.select('EMEA'), true);
  assert.equal(Number(await doc.evaluate('Sum(Amount)')), emea[1].qNum);
  await doc.clearAll();
  assert.equal(Number(await doc.evaluate('Sum(Amount)')), total);
});

test('search over values and object titles', async () => {
  const found = await doc.searchResults({}, ['globex'], { qOffset: 0, qCount: 10 });
  assert.equal(found.qSearchGroupArray[0].qItems[0].qIdentifier, 'CustomerName');
  const suggested = await doc.searchSuggest({}, ['ware']);
  assert.ok(suggested.qSuggestions.length >= 2);
  const objects = await doc.searchObjects({}, 'revenue', { qOffset: 0, qCount: 10 });
  assert.ok(objects.qSearchGroupArray[0].qItems.length >= 2);
});

test('SetProperties then DoSave persists for the next session', async () => {
  const sheet = await doc.getObject(SHEET);
  const props = await sheet.getProperties();
  props.qMetaDef.title = 'Overview (enigma)';
  await sheet.setProperties(props);
  await doc.doSave();
  const other = open();
  const otherDoc = await (await other.open()).openDoc(APP);
  const layout = await (await otherDoc.getObject(SHEET)).getLayout();
  assert.equal(layout.qMeta.title, 'Overview (enigma)');
  await other.close();
});

test('CreateObject, CreateMeasure and DestroyObject, persisted by DoSave', async () => {
  const sheet = await doc.createObject({ qInfo: { qId: 'enigma-sheet', qType: 'sheet' }, qMetaDef: { title: 'Made by enigma' } });
  assert.equal(sheet.id, 'enigma-sheet');
  assert.equal(sheet.genericType, 'sheet');
  assert.equal((await sheet.getLayout()).qMeta.title, 'Made by enigma');
  await assert.rejects(doc.createObject({ qInfo: { qId: 'enigma-sheet', qType: 'sheet' } }), (err) => err.code === 3);
  const measure = await doc.createMeasure({
    qInfo: { qType: 'measure' }, qMeasure: { qLabel: 'Orders', qDef: 'Count(OrderID)' }, qMetaDef: { title: 'Orders (enigma)' },
  });
  assert.equal((await measure.getMeasure()).qDef, 'Count(OrderID)');
  const scratch = await doc.createObject({ qInfo: { qType: 'scratch' } });
  assert.equal(await doc.destroyObject(scratch.id), true);
  assert.equal(await doc.destroyObject(scratch.id), false);
  await doc.doSave();
  const other = open();
  const otherDoc = await (await other.open()).openDoc(APP);
  const infos = await otherDoc.getAllInfos();
  const ids = new Set(infos.map((info) => info.qId));
  assert.ok(ids.has('enigma-sheet') && ids.has(measure.id));
  assert.ok(!ids.has(scratch.id));
  await other.close();
});

test('reload through the engine and a task reload with its script log', async () => {
  assert.equal(await doc.doReload(0, false), true);
  const result = await doc.doReloadEx({ qMode: 0, qPartial: false, qDebug: false });
  assert.equal(result.qSuccess, true);
  assert.match(result.qScriptLogFile, new RegExp(`${APP}\\.log$`));
  assert.equal((await qrs('POST', `/qrs/task/${RELOAD_TASK}/start`, {})).status, 204);
  let task;
  for (let i = 0; i < 200; i += 1) {
    task = JSON.parse((await qrs('GET', `/qrs/reloadtask/${RELOAD_TASK}`)).text);
    if (task.operational.lastExecutionResult.status === 7) break;
    await new Promise((resolve) => { setTimeout(resolve, 25); });
  }
  const last = task.operational.lastExecutionResult;
  assert.equal(last.status, 7);
  const reference = await qrs('GET', `/qrs/reloadtask/${RELOAD_TASK}/scriptlog?fileReferenceId=${last.fileReferenceID}`);
  assert.equal(reference.status, 200);
  const download = await qrs('GET', `/qrs/download/reloadtask/${JSON.parse(reference.text).value}/scriptlog.txt`);
  assert.equal(download.status, 200);
  assert.match(download.text, /Execution finished\./);
});
