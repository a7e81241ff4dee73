// The offline runtime's IAM policy evaluator: @cloud-copilot/iam-simulate (pinned in package.json), one
// simulation a line. Each input line is a Simulation (iam-simulate's own type); each output line is
// {"overall", "identity", "resource", "ignoredContextKeys"} or {"error": ...}. Started once by
// offline/iam_simulator.py and fed from stdin until it closes.
import { runSimulation } from '@cloud-copilot/iam-simulate'
import readline from 'node:readline'

const lines = readline.createInterface({ input: process.stdin })
for await (const line of lines) {
  let answer
  try {
    const response = await runSimulation(JSON.parse(line), {})
    if (response.resultType === 'single') {
      const analysis = response.result.analysis ?? {}
      answer = {
        overall: response.overallResult,
        identity: analysis.identityAnalysis?.result ?? null,
        resource: analysis.resourceAnalysis?.result ?? null,
        ignoredContextKeys: response.result.ignoredContextKeys ?? [],
      }
    } else if (response.resultType === 'error') {
      answer = { error: response.errors }
    } else {
      answer = { error: { message: `a wildcard simulation (${response.resultType}) was not asked for` } }
    }
  } catch (error) {
    answer = { error: { message: String(error) } }
  }
  process.stdout.write(JSON.stringify(answer) + '\n')
}
