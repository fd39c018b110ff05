// node-postgres client for the track-mode integration tests (test_track_clients.py): reads a JSON job on stdin, prints JSON results.
//
// Jobs:
//   {"mode": "stale", "conn": {...}}
//     Two clients read row 1 of accounts through the named statement 'sel'; A saves it twice
//     through the named statement 'upd'; B saves without re-reading (expected to fail), re-reads
//     and saves again.
//   {"mode": "queries", "conn": {...}, "binary": false, "queries": [{"text": ..., "values": [...]}]}
//     Runs each query and reports its fields (name, type OID, format) and rows. Values are not
//     parsed but kept as received: node-postgres decodes every value as UTF-8, binary ones too
//     (lossy for bytes that are not UTF-8, the same way on both runs being compared).

'use strict';

const { Client } = require('pg');

const rawValues = {
  getTypeParser: () => (value) => value,
};

async function outcome(promise) {
  try {
    const result = await promise;
    return { rowCount: result.rowCount, rows: result.rows };
  } catch (error) {
    return { error: { code: error.code, message: error.message } };
  }
}

async function stale(conn) {
  const a = new Client(conn);
  const b = new Client(conn);
  await a.connect();
  await b.connect();
  const select = { name: 'sel', text: 'SELECT id, balance FROM accounts WHERE id = $1', values: [1] };
  const update = (balance) => ({
    name: 'upd', text: 'UPDATE accounts SET balance = $1 WHERE id = $2', values: [balance, 1],
  });
  const out = {};
  out.a_read = await outcome(a.query(select));
  out.b_read = await outcome(b.query(select));
  out.a_write = await outcome(a.query(update(150)));
  out.a_write_again = await outcome(a.query(update(160)));
  out.b_write = await outcome(b.query(update(80)));
  out.b_reread = await outcome(b.query(select));
  out.b_write_after_reread = await outcome(b.query(update(90)));
  await a.end();
  await b.end();
  return out;
}

async function queries(conn, list, binary) {
  const client = new Client(conn);
  await client.connect();
  const out = [];
  for (const query of list) {
    // rowMode 'array': a join's columns of the same name (id, id) all stay.
    const config = { text: query.text, types: rawValues, binary: Boolean(binary), rowMode: 'array' };
    if (binary) {
      // Binary results need the extended protocol; without this, a query without values goes
      // as a simple Query and comes back in text.
      config.queryMode = 'extended';
    }
    if (query.values) {
      config.values = query.values;
    }
    if (query.name) {
      config.name = query.name;
    }
    try {
      const result = await client.query(config);
      out.push({
        text: query.text,
        command: result.command,
        rowCount: result.rowCount,
        fields: result.fields.map((f) => [f.name, f.dataTypeID, f.format]),
        rows: result.rows,
      });
    } catch (error) {
      out.push({ text: query.text, error: error.code });
    }
  }
  await client.end();
  return out;
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  const job = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  let result;
  if (job.mode === 'stale') {
    result = await stale(job.conn);
  } else if (job.mode === 'queries') {
    result = await queries(job.conn, job.queries, job.binary);
  } else {
    throw new Error('unknown mode ' + job.mode);
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
