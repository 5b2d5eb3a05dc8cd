'use strict';
// Stand-in for Lambda's Node.js runtime: load the handler as the runtime does, call it once, print JSON.
// Run as `node bootstrap.js EVENT_FILE` with LAMBDA_TASK_ROOT, _HANDLER and NODE_PATH set. stdout
// carries only the result; console.log and other stdout writes go to stderr (the "log stream").
// Handler strings follow the runtime's rules: "dir/module.export.path", the module resolved as
// .js, .mjs or .cjs inside LAMBDA_TASK_ROOT; errors are {errorType, errorMessage, trace}.
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { pathToFileURL } = require('url');

process.stdout.write = process.stderr.write.bind(process.stderr);

function emit(document, code) {
  fs.writeSync(1, JSON.stringify(document) + '\n');
  process.exit(code);
}

function fault(errorType, errorMessage, trace) {
  process.stderr.write(`[ERROR] ${errorType}: ${errorMessage}\n`);
  emit({ errorType, errorMessage, trace: trace || [] }, 1);
}

function userError(error) {
  if (error instanceof Error) {
    return { errorType: error.name, errorMessage: error.message, trace: String(error.stack || '').split('\n') };
  }
  return { errorType: 'Error', errorMessage: String(error), trace: [] };
}

async function loadHandler(taskRoot, handlerString) {
  const slash = handlerString.lastIndexOf('/');
  const dir = handlerString.slice(0, slash + 1);
  const rest = handlerString.slice(slash + 1);
  const dot = rest.indexOf('.');
  if (dot < 1 || dot === rest.length - 1) {
    fault('Runtime.MalformedHandlerName', `Bad handler ${handlerString}`);
  }
  const moduleName = rest.slice(0, dot);
  const exportPath = rest.slice(dot + 1).split('.');
  const base = path.resolve(taskRoot, dir, moduleName);
  let loaded;
  try {
    if (fs.existsSync(base + '.mjs')) {
      loaded = await import(pathToFileURL(base + '.mjs').href);
    } else if (fs.existsSync(base + '.cjs')) {
      loaded = require(base + '.cjs');
    } else {
      try {
        loaded = require(base);
      } catch (error) {
        if (error && error.code === 'ERR_REQUIRE_ESM') {
          loaded = await import(pathToFileURL(base + '.js').href);
        } else {
          throw error;
        }
      }
    }
  } catch (error) {
    if (error && (error.code === 'MODULE_NOT_FOUND' || error.code === 'ERR_MODULE_NOT_FOUND')) {
      fault('Runtime.ImportModuleError', `Error: ${error.message}`, String(error.stack || '').split('\n'));
    }
    const details = userError(error);
    emit(details, 1);
  }
  let handler = loaded;
  for (const key of exportPath) {
    handler = handler === undefined || handler === null ? undefined : handler[key];
  }
  if (typeof handler !== 'function') {
    fault('Runtime.HandlerNotFound', `${moduleName}.${exportPath.join('.')} is undefined or not exported`);
  }
  return handler;
}

async function main() {
  const taskRoot = process.env.LAMBDA_TASK_ROOT;
  const event = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const timeoutMs = Math.round(parseFloat(process.env.LAYER_CI_TIMEOUT_S || '3') * 1000);
  const handler = await loadHandler(taskRoot, process.env._HANDLER || '');
  const requestId = crypto.randomUUID();
  const deadline = Date.now() + timeoutMs;
  const name = process.env.AWS_LAMBDA_FUNCTION_NAME;
  const region = process.env.AWS_REGION;
  const account = process.env.LAYER_CI_ACCOUNT || '000000000000';
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: `arn:aws:lambda:${region}:${account}:function:${name}`,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: requestId,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
  };
  setTimeout(() => {
    const stamp = new Date().toISOString();
    emit({ errorType: 'Sandbox.Timedout', errorMessage: `${stamp} ${requestId} Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds` }, 1);
  }, timeoutMs).unref();
  process.stderr.write(`START RequestId: ${requestId} Version: ${context.functionVersion}\n`);
  const finish = (error, result) => {
    process.stderr.write(`END RequestId: ${requestId}\n`);
    if (error) {
      emit(userError(error), 1);
    }
    let payload;
    try {
      payload = JSON.stringify(result === undefined ? null : result);
    } catch (marshal) {
      emit({ errorType: 'Runtime.MarshalError', errorMessage: `Unable to stringify response body: ${marshal.message}`, trace: [] }, 1);
    }
    fs.writeSync(1, payload + '\n');
    process.exit(0);
  };
  try {
    if (handler.length >= 3) {
      handler(event, context, (error, result) => finish(error, result));
      return;
    }
    const result = await handler(event, context);
    finish(null, result);
  } catch (error) {
    finish(error);
  }
}

main().catch((error) => emit(userError(error), 1));
