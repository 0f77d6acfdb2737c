// Must NOT compile: the misuses of misuse.ts, on the SDK @hey-api/openapi-ts generates
// (build/clients/hey-api/). check-misuse.mjs (run by `make clients` with this file and
// tsconfig.misuse-hey-api.json) asserts that tsc fails with exactly these errors.
import { createClient, createConfig } from "../../../build/clients/hey-api/client";
import { createTask, listTasks, replaceTask } from "../../../build/clients/hey-api/sdk.gen";
import type { ClientOptions } from "../../../build/clients/hey-api/types.gen";

const client = createClient(createConfig<ClientOptions>({ baseUrl: "http://127.0.0.1:8000" }));
const user = { user_id: "alice" };
const unchanged = { description: null, priority: "low", tags: [], due_at: null, recurrence: null } as const;

export async function misuse(): Promise<void> {
  // A status filter the contract does not have (all | pending | completed).
  await listTasks({
    client,
    path: user,
    // expect-error TS2322 "'"done"' is not assignable to type 'TaskStatusFilter | undefined'"
    query: { status: "done" },
  });

  // A new task without its required title.
  await createTask({
    client,
    path: user,
    // expect-error TS2741 "Property 'title' is missing"
    body: { description: "no title" },
  });

  // A replacement with the wrong type for completed.
  await replaceTask({
    client,
    path: { ...user, task_id: 1 },
    // expect-error TS2322 "Type 'string' is not assignable to type 'boolean'"
    body: { ...unchanged, title: "Buy milk", completed: "yes" },
  });

  // A partial replacement: PUT replaces the whole task (PATCH changes some fields).
  await replaceTask({
    client,
    path: { ...user, task_id: 1 },
    // expect-error TS2739 "': completed, priority, tags, due_at, recurrence"
    body: { title: "Buy oat milk", description: "1 litre" },
  });

  // A recurrence interval of the wrong type.
  await createTask({
    client,
    path: user,
    // expect-error TS2322 "Type 'string' is not assignable to type 'number'"
    body: { title: "Buy milk", recurrence: { frequency: "weekly", interval: "2" } },
  });

  // A field that the Task schema does not have.
  const created = await createTask({ client, path: user, body: { title: "Buy milk" } });
  // expect-error TS2339 "Property 'done' does not exist"
  console.log(created.data?.done);
}
