//! Every problem of a scenario spec at once, each at its JSON place (`steps[2].version`,
//! `triggers[1].schedule`, `variables.data`, `name`), so an editor can mark each at its line.
//!
//! A spec that does not parse is read part by part ([`SpecParts::read`]): each step and each
//! trigger on its own, then the fields around them. The parts that parse are checked as a
//! whole spec would be (names, variables, cron patterns and time zones, field rules), so a
//! malformed step hides neither another step's problem nor a bad cron pattern. Only the
//! variables a malformed step would define are unknown: uses of variables after it are not
//! judged until it parses.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::spec::{
    AliasTrigger, BUILT_INS, CreateVersion, CronTrigger, Evaluate, ExportCapture, ImportMlflow, MAX_STEPS,
    MLFLOW_TRIGGER_VARIABLES, MlflowSet, RESERVED_NAME, RunCommand, Scenario, ScenarioIssue, StartCanary, Step,
    Trigger, UpdateDeployment, step_field_problems,
};
use super::template::{self, is_identifier};

/// A spec read part by part: what parsed, and why the rest did not.
#[derive(Debug, Default)]
pub struct SpecParts {
    name: Option<String>,
    variables: BTreeMap<String, String>,
    /// None when `steps` is not a list (the shape problems say so).
    steps: Option<Vec<Option<Step>>>,
    triggers: Vec<Option<Trigger>>,
    /// Why parts did not parse, each at its place.
    shape: Vec<ScenarioIssue>,
}

impl SpecParts {
    /// Reads a spec as an editor sends it, valid or not.
    pub fn read(spec: &Value) -> SpecParts {
        let Value::Object(obj) = spec else {
            return SpecParts {
                shape: vec![issue(String::new(), None, "a scenario is a JSON object with a name and steps".into())],
                ..SpecParts::default()
            };
        };
        let mut parts = SpecParts::default();
        let mut rest = obj.clone();
        if let Some(Value::Array(steps)) = obj.get("steps") {
            let mut read = Vec::with_capacity(steps.len());
            for (i, step) in steps.iter().enumerate() {
                match read_step(step) {
                    Ok(s) => read.push(Some(s)),
                    Err((field, message)) => {
                        parts.shape.push(issue(join(&format!("steps[{i}]"), &field), Some(i), message));
                        read.push(None);
                    }
                }
            }
            parts.steps = Some(read);
            rest.insert("steps".into(), Value::Array(Vec::new()));
        }
        if let Some(Value::Array(triggers)) = obj.get("triggers") {
            for (i, trigger) in triggers.iter().enumerate() {
                match read_trigger(trigger) {
                    Ok(t) => parts.triggers.push(Some(t)),
                    Err((field, message)) => {
                        parts.shape.push(issue(join(&format!("triggers[{i}]"), &field), None, message));
                        parts.triggers.push(None);
                    }
                }
            }
            rest.insert("triggers".into(), Value::Array(Vec::new()));
        }
        if let Err((field, message)) = read_as::<Scenario>(Value::Object(rest)) {
            parts.shape.push(issue(field, None, message));
        }
        parts.name = obj.get("name").and_then(Value::as_str).map(str::to_owned);
        if let Some(v) = obj.get("variables")
            && let Ok(vars) = serde_json::from_value(v.clone())
        {
            parts.variables = vars;
        }
        parts
    }

    /// Every problem: why parts did not parse, and what is wrong with the parts that did; in
    /// the order of the spec (name, variables, steps, triggers).
    pub fn issues(&self) -> Vec<ScenarioIssue> {
        let steps: Option<Vec<Option<&Step>>> = self.steps.as_ref().map(|s| s.iter().map(Option::as_ref).collect());
        let triggers: Vec<Option<&Trigger>> = self.triggers.iter().map(Option::as_ref).collect();
        let mut out = self.shape.clone();
        out.extend(check(self.name.as_deref(), &self.variables, steps.as_deref(), &triggers));
        out.sort_by_key(place_order);
        out
    }

    /// Services named literally by the steps that parsed, with the step's index.
    pub fn literal_services(&self) -> Vec<(usize, &str)> {
        let steps = self.steps.iter().flatten().enumerate();
        steps.filter_map(|(i, s)| s.as_ref()?.literal_service().map(|svc| (i, svc))).collect()
    }
}

/// The issues of a spec that parsed.
pub(super) fn scenario_issues(spec: &Scenario) -> Vec<ScenarioIssue> {
    let steps: Vec<Option<&Step>> = spec.steps.iter().map(Some).collect();
    let triggers: Vec<Option<&Trigger>> = spec.triggers.iter().map(Some).collect();
    check(Some(spec.name.as_str()), &spec.variables, Some(&steps), &triggers)
}

fn issue(path: String, step: Option<usize>, message: String) -> ScenarioIssue {
    ScenarioIssue { path, step, message }
}

/// `steps[2]` and `version` → `steps[2].version`; an empty field is the part itself.
fn join(part: &str, field: &str) -> String {
    if field.is_empty() { part.to_owned() } else { format!("{part}.{field}") }
}

/// Sorts issues as the spec reads: name, description, variables, steps by index, triggers
/// by index, anything else last (stable: a part's own issues keep their order).
pub(super) fn place_order(issue: &ScenarioIssue) -> (u8, usize) {
    let path = issue.path.as_str();
    let index = |prefix: &str| {
        path.strip_prefix(prefix).and_then(|r| r.split(']').next()).and_then(|n| n.parse::<usize>().ok()).unwrap_or(0)
    };
    let head = path.split(['.', '[']).next().unwrap_or("");
    match head {
        "name" => (0, 0),
        "description" => (1, 0),
        "variables" => (2, 0),
        "steps" => (3, index("steps[")),
        "triggers" => (4, index("triggers[")),
        _ => (5, 0),
    }
}

/// Deserializes `value` as `T`; on failure, the field at fault (a path inside `value`,
/// empty for `value` itself; an unknown field is its own key) and serde's message.
fn read_as<T: DeserializeOwned>(value: Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path == "?" { String::new() } else { path };
        (field, e.into_inner().to_string())
    })
}

/// An internally tagged object (`{"kind": …}`): its kind, and its other fields.
fn tagged(value: &Value) -> Result<(String, Value), (String, String)> {
    let Value::Object(obj) = value else {
        return Err((String::new(), "expected an object with a \"kind\"".into()));
    };
    let kind = match obj.get("kind") {
        Some(Value::String(k)) => k.clone(),
        Some(_) => return Err(("kind".into(), "\"kind\" is a string".into())),
        None => return Err((String::new(), "missing field `kind`".into())),
    };
    let fields: Map<String, Value> =
        obj.iter().filter(|(k, _)| *k != "kind").map(|(k, v)| (k.clone(), v.clone())).collect();
    Ok((kind, Value::Object(fields)))
}

/// A step, or the field at fault and why. Each kind's fields are read on their own, so a
/// wrong type or an unknown field is placed at its field.
fn read_step(value: &Value) -> Result<Step, (String, String)> {
    let (kind, fields) = tagged(value)?;
    match kind.as_str() {
        "run_command" => read_as::<RunCommand>(fields).map(Step::RunCommand),
        "create_version" => read_as::<CreateVersion>(fields).map(Step::CreateVersion),
        "evaluate" => read_as::<Evaluate>(fields).map(Step::Evaluate),
        "update_deployment" => read_as::<UpdateDeployment>(fields).map(Step::UpdateDeployment),
        "import_mlflow" => read_as::<ImportMlflow>(fields).map(Step::ImportMlflow),
        "start_canary" => read_as::<StartCanary>(fields).map(Step::StartCanary),
        "mlflow_set" => read_as::<MlflowSet>(fields).map(Step::MlflowSet),
        "export_capture" => read_as::<ExportCapture>(fields).map(Step::ExportCapture),
        other => {
            // Serde's own message lists the kinds there are.
            let message = serde_json::from_value::<Step>(value.clone()).err().map(|e| e.to_string());
            Err(("kind".into(), message.unwrap_or_else(|| format!("unknown step kind `{other}`"))))
        }
    }
}

/// A trigger, or the field at fault and why.
fn read_trigger(value: &Value) -> Result<Trigger, (String, String)> {
    let (kind, fields) = tagged(value)?;
    match kind.as_str() {
        "manual" => Ok(Trigger::Manual),
        "cron" => read_as::<CronTrigger>(fields).map(Trigger::Cron),
        "mlflow_alias" => read_as::<AliasTrigger>(fields).map(Trigger::MlflowAlias),
        other => {
            let message = serde_json::from_value::<Trigger>(value.clone()).err().map(|e| e.to_string());
            Err(("kind".into(), message.unwrap_or_else(|| format!("unknown trigger kind `{other}`"))))
        }
    }
}

/// The checks of a spec's parts that parsed (`None`: a step or trigger that did not).
/// `steps` is None when the spec has no list of steps at all.
fn check(
    name: Option<&str>,
    variables: &BTreeMap<String, String>,
    steps: Option<&[Option<&Step>]>,
    triggers: &[Option<&Trigger>],
) -> Vec<ScenarioIssue> {
    let given_steps = steps.is_some();
    let mut issues = Vec::new();
    let mut push = |path: String, step: Option<usize>, message: String| {
        issues.push(ScenarioIssue { path, step, message });
    };
    let builtins: BTreeSet<&str> = BUILT_INS.into_iter().collect();
    let mut defined: BTreeSet<String> = BUILT_INS.iter().map(|s| (*s).to_owned()).collect();
    let aliases = triggers.iter().flatten().filter(|t| matches!(t, Trigger::MlflowAlias(_))).count();
    if aliases > 0 {
        defined.extend(MLFLOW_TRIGGER_VARIABLES.iter().map(|s| (*s).to_owned()));
    }
    if name == Some(RESERVED_NAME) {
        push("name".into(), None, format!("'{RESERVED_NAME}' is reserved (the admin API's /scenarios/validate)"));
    }

    for (name, value) in variables {
        let path = format!("variables.{name}");
        if !is_identifier(name) {
            push(path.clone(), None, "a variable name uses letters, digits and '_', not a digit first".into());
        } else if builtins.contains(name.as_str()) {
            push(path.clone(), None, format!("'{name}' is a built-in variable and cannot be redefined"));
        }
        match template::references(value) {
            Err(e) => push(path, None, e),
            Ok(refs) => {
                for r in refs.into_iter().filter(|r| !builtins.contains(r)) {
                    push(
                        path.clone(),
                        None,
                        format!(
                            "unknown variable ${{{r}}}: scenario variables may only use the built-ins ({})",
                            BUILT_INS.join(", ")
                        ),
                    );
                }
            }
        }
    }
    defined.extend(variables.keys().cloned());

    // No list of steps at all is a shape problem, said once.
    let steps = steps.unwrap_or_default();
    if steps.is_empty() && given_steps {
        push("steps".into(), None, "a scenario needs at least one step".into());
    }
    if steps.len() > MAX_STEPS {
        push("steps".into(), None, format!("a scenario has at most {MAX_STEPS} steps"));
    }
    let mut names = BTreeSet::new();
    // After a step that did not parse, what is defined is not known.
    let mut known = true;
    for (i, step) in steps.iter().enumerate() {
        let Some(step) = step else {
            known = false;
            continue;
        };
        let at = |field: &str| format!("steps[{i}].{field}");
        let name = step.name();
        if name.trim().is_empty() || name.len() > 64 {
            push(at("name"), Some(i), "a step needs a name of 1 to 64 characters".into());
        } else if !names.insert(name) {
            push(at("name"), Some(i), format!("another step is already named '{name}'"));
        }
        for (field, text) in step.templated_fields() {
            match template::references(text) {
                Err(e) => push(at(&field), Some(i), e),
                Ok(refs) => {
                    for r in refs.into_iter().filter(|r| known && !defined.contains(*r)) {
                        push(
                            at(&field),
                            Some(i),
                            format!(
                                "unknown variable ${{{r}}} (defined at this step: {})",
                                defined.iter().cloned().collect::<Vec<_>>().join(", ")
                            ),
                        );
                    }
                }
            }
        }
        for (field, problem) in step_field_problems(step) {
            push(at(&field), Some(i), problem);
        }
        for var in step.defines() {
            if !is_identifier(&var) {
                push(at("outputs"), Some(i), format!("'{var}' cannot be a variable name: use letters, digits and '_'"));
            } else if builtins.contains(var.as_str()) {
                push(at("outputs"), Some(i), format!("'{var}' is a built-in variable and cannot be redefined"));
            }
            defined.insert(var);
        }
    }

    for (i, trigger) in triggers.iter().enumerate() {
        let problems = match trigger {
            Some(Trigger::Cron(c)) => c.problems(),
            Some(Trigger::MlflowAlias(a)) => a.problems(),
            Some(Trigger::Manual) | None => Vec::new(),
        };
        for (field, e) in problems {
            push(format!("triggers[{i}].{field}"), None, e);
        }
    }
    if aliases > 1 {
        push("triggers".into(), None, "a scenario follows at most one MLflow alias".into());
    }
    issues
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scenario::spec::tests::retrain;

    fn places(spec: &Value) -> Vec<(String, Option<usize>)> {
        SpecParts::read(spec).issues().into_iter().map(|i| (i.path, i.step)).collect()
    }

    fn paths(spec: &Value) -> Vec<String> {
        places(spec).into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn a_spec_that_does_not_parse_reports_every_problem_at_its_field() {
        let mut v = retrain();
        v["steps"][0]["kind"] = json!("run_comand");
        v["steps"][3].as_object_mut().expect("step").remove("service");
        v["triggers"][1]["schedule"] = json!("0 0 32 * *");
        v["description"] = json!(7);
        assert!(serde_json::from_value::<Scenario>(v.clone()).is_err());
        let issues = SpecParts::read(&v).issues();
        let places: Vec<(&str, Option<usize>)> = issues.iter().map(|i| (i.path.as_str(), i.step)).collect();
        assert_eq!(
            places,
            [("description", None), ("steps[0].kind", Some(0)), ("steps[3]", Some(3)), ("triggers[1].schedule", None)]
        );
        assert!(issues[0].message.contains("expected a string"), "{issues:?}");
        assert!(issues[1].message.contains("run_comand") && issues[1].message.contains("run_command"), "{issues:?}");
        assert!(issues[2].message.contains("missing field `service`"), "{issues:?}");
        assert!(issues[3].message.contains("not a cron pattern"), "{issues:?}");
        assert_eq!(paths(&json!([])), [""]);
    }

    #[test]
    fn wrong_types_and_unknown_fields_are_placed_at_their_field() {
        let mut v = retrain();
        v["steps"][0]["timeout"] = json!(5);
        v["steps"][1]["unique"] = json!("yes");
        v["steps"][3]["mode"] = json!({"replace": {"generation": 5}});
        v["triggers"][1]["on_missed"] = json!("later");
        v["triggers"][0] = json!({"kind": "hourly"});
        v["colour"] = json!("red");
        assert_eq!(
            paths(&v),
            [
                "steps[0].timeout",
                "steps[1].unique",
                "steps[3].mode.replace.generation",
                "triggers[0].kind",
                "triggers[1].on_missed",
                "colour"
            ]
        );
    }

    #[test]
    fn the_parts_that_parse_are_checked_too() {
        let mut v = retrain();
        // A shape problem in one step…
        v["steps"][0]["timeout_seconds"] = json!("long");
        // …hides neither a duplicate name, a bad service name, nor a bad cron zone and pattern.
        v["steps"][2]["name"] = json!("register");
        v["steps"][3]["service"] = json!("Not A Service");
        v["triggers"][1]["schedule"] = json!("every day");
        v["triggers"][1]["timezone"] = json!("Mars/Base");
        v["variables"]["run_id"] = json!("x");
        assert_eq!(
            places(&v),
            [
                ("variables.run_id".into(), None),
                ("steps[0].timeout_seconds".into(), Some(0)),
                ("steps[2].name".into(), Some(2)),
                ("steps[3].service".into(), Some(3)),
                ("triggers[1].timezone".into(), None),
                ("triggers[1].schedule".into(), None),
            ]
        );
        // The variables step 0 would define are unknown: their uses after it are not judged.
        assert!(!SpecParts::read(&v).issues().iter().any(|i| i.message.contains("unknown variable")));
    }

    #[test]
    fn a_spec_that_parses_gets_the_same_issues_either_way() {
        let mut v = retrain();
        v["steps"][2]["version"] = json!("${versoin_id}");
        v["triggers"][1]["timezone"] = json!("Mars/Base");
        v["triggers"][1]["schedule"] = json!("0 0 30 2 *");
        let parsed: Scenario = serde_json::from_value(v.clone()).expect("spec");
        assert_eq!(SpecParts::read(&v).issues(), parsed.issues());
        assert_eq!(paths(&v), ["steps[2].version", "triggers[1].timezone", "triggers[1].schedule"]);
        assert_eq!(SpecParts::read(&v).literal_services(), parsed.literal_services());
    }

    #[test]
    fn no_list_of_steps_is_said_once() {
        let v = json!({"name": "x"});
        let issues = SpecParts::read(&v).issues();
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert!(issues[0].message.contains("missing field `steps`"), "{issues:?}");
        let v = json!({"name": "x", "steps": []});
        assert_eq!(paths(&v), ["steps"]);
    }

    #[test]
    fn an_unknown_value_of_a_field_is_placed_at_the_field() {
        // As the console's E2E test types it: the services exist or not is the engine's part.
        let v = json!({"name": "e2e_nightly", "steps": [
            {"kind": "export_capture", "name": "export", "service": "iris_classifier", "format": "xml"},
            {"kind": "update_deployment", "name": "deploy", "service": "nope", "version": "v1"}],
            "triggers": [{"kind": "cron", "schedule": "0 0 32 * *"}]});
        assert_eq!(paths(&v), ["steps[0].format", "triggers[0].schedule"]);
        assert_eq!(SpecParts::read(&v).literal_services(), [(1, "nope")]);
    }

    #[test]
    fn an_alias_trigger_reports_each_bad_field() {
        let mut v = retrain();
        v["triggers"] = json!([{"kind": "mlflow_alias", "model": "a/b", "alias": "", "poll_seconds": 1}]);
        assert_eq!(paths(&v), ["triggers[0].model", "triggers[0].alias", "triggers[0].poll_seconds"]);
    }
}
