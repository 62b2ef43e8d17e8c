import { RightOutlined, UploadOutlined } from '@ant-design/icons';
import { Alert, Button, Collapse, Form, Input, InputNumber, Modal, Select, Steps, Switch, Typography, Upload } from 'antd';
import type { Rule } from 'antd/es/form';
import { useMemo, useState } from 'react';
import { ApiError, type CreatedWebhook, type Webhook, type WebhookInput } from './api';
import { useEventTypes } from './hooks';
import { describeScope, scopeFields, type ConsoleScope } from './scope';
import { useSignedIn } from './session';
import {
  createInput,
  formFieldOf,
  initialValues,
  isHttpUrl,
  looksLikePemCertificate,
  MAX_ATTEMPTS_LIMIT,
  METHODS,
  MIN_SECRET_LENGTH,
  PANEL_OF,
  patchInput,
  stepOf,
  STEP_FIELDS,
  type FormField,
  type WebhookFormValues,
} from './webhook-form';

/** What the modal is for: a new webhook in a scope, or changing an existing one. */
export type WebhookModalTarget = { mode: 'add'; scope: ConsoleScope } | { mode: 'edit'; webhook: Webhook };

interface WebhookModalProps {
  target: WebhookModalTarget;
  onClose(): void;
  /** The saved webhook; on creation it carries the secret when Herald generated it. */
  onSaved(webhook: CreatedWebhook): void;
}

type Panel = 'ca' | 'proxy';

const CONTENT_TYPE = /^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/;

/**
 * Adds or edits a webhook in two steps: the details, then the advanced settings (a CA for TLS
 * to the target, a proxy). Problems are shown on their field, before sending where the browser
 * can tell and after Herald answered otherwise, on the step that holds the field.
 */
export function WebhookModal({ target, onClose, onSaved }: WebhookModalProps) {
  const { api } = useSignedIn();
  const catalog = useEventTypes(api);
  const [form] = Form.useForm<WebhookFormValues>();
  const editing = target.mode === 'edit' ? target.webhook : undefined;
  const initial = useMemo(() => initialValues(editing), [editing]);
  const [step, setStep] = useState(0);
  // An edited webhook's advanced settings start open when it has any.
  const [panels, setPanels] = useState<Panel[]>(() => [
    ...(initial.caPem ? (['ca'] as const) : []),
    ...(initial.proxyUrl ? (['proxy'] as const) : []),
  ]);
  const [saving, setSaving] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const title = editing ? 'Edit webhook' : 'Add webhook';

  const showField = (field: FormField) => {
    setStep(stepOf(field));
    const panel = PANEL_OF[field];
    if (panel) setPanels((open) => (open.includes(panel) ? open : [...open, panel]));
  };

  const goToAdvanced = async () => {
    try {
      await form.validateFields(STEP_FIELDS[0]);
      setStep(1);
    } catch {
      // The fields show their own messages.
    }
  };

  const save = async () => {
    let values: WebhookFormValues;
    try {
      values = await form.validateFields();
    } catch (failure) {
      const first = (failure as { errorFields?: Array<{ name: FormField[] }> }).errorFields?.[0]?.name[0];
      if (first) showField(first);
      return;
    }
    setProblem(null);
    setSaving(true);
    try {
      if (editing) {
        const patch = patchInput(editing, values);
        onSaved(Object.keys(patch).length === 0 ? editing : await api.updateWebhook(editing.id, patch));
      } else {
        const input: WebhookInput = { ...createInput(values), ...(target.mode === 'add' ? scopeFields(target.scope) : {}) };
        onSaved(await api.createWebhook(input));
      }
    } catch (error) {
      showRefusal(error);
    } finally {
      setSaving(false);
    }
  };

  const showRefusal = (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    const field = error instanceof ApiError ? formFieldOf(error.field) : null;
    if (field === null) {
      setProblem(message);
      return;
    }
    form.setFields([{ name: field, errors: [capitalise(message)] }]);
    showField(field);
  };

  const readPem = async (file: File) => {
    form.setFieldValue('caPem', (await file.text()).trim());
    await form.validateFields(['caPem']).catch(() => undefined);
  };

  // Editing usually touches the first step only, so it can be saved from there too.
  const footer =
    step === 0
      ? [
          <Button key="cancel" onClick={onClose}>
            Cancel
          </Button>,
          <Button key="next" type={editing ? 'default' : 'primary'} onClick={goToAdvanced}>
            Next
          </Button>,
          ...(editing
            ? [
                <Button key="save" type="primary" onClick={save} loading={saving}>
                  Save
                </Button>,
              ]
            : []),
        ]
      : [
          <Button key="back" onClick={() => setStep(0)} disabled={saving}>
            Back
          </Button>,
          <Button key="save" type="primary" onClick={save} loading={saving}>
            {editing ? 'Save' : 'Add webhook'}
          </Button>,
        ];

  return (
    <Modal
      open
      title={title}
      onCancel={onClose}
      footer={footer}
      width={640}
      mask={{ closable: false }}
      destroyOnHidden
      className="webhook-modal"
    >
      <Steps
        current={step}
        size="small"
        className="block-gap"
        items={[{ title: 'Details' }, { title: 'Advanced' }]}
        onChange={(next) => (next === 0 ? setStep(0) : void goToAdvanced())}
      />
      <Typography.Paragraph type="secondary" className="modal-scope">
        {editing ? `Scope: ${describeScope(editing)}` : `Created in: ${describeAddScope(target)}`}
      </Typography.Paragraph>
      {problem && <Alert type="error" showIcon title={problem} className="block-gap" />}
      <Form
        form={form}
        name="webhook"
        layout="vertical"
        initialValues={initial}
        onFinish={() => (step === 0 ? goToAdvanced() : save())}
        onFinishFailed={({ errorFields }) => {
          const first = errorFields[0]?.name[0] as FormField | undefined;
          if (first) showField(first);
        }}
      >
        <div hidden={step !== 0}>
          <Form.Item label="Target URL" name="url" rules={URL_RULES} validateFirst>
            <Input placeholder="https://example.com/hooks/herald" autoComplete="off" spellCheck={false} />
          </Form.Item>
          <Form.Item
            label="Secret"
            name="secret"
            rules={SECRET_RULES}
            extra={editing ? 'Type a new secret to replace the current one.' : 'Leave empty to let Herald generate one'}
          >
            <Input.Password
              autoComplete="new-password"
              spellCheck={false}
              placeholder={editing ? 'Leave empty to keep the current secret' : undefined}
            />
          </Form.Item>
          <Form.Item label="Events" name="events" rules={[{ required: true, type: 'array', min: 1, message: 'Choose at least one event' }]}>
            <Select
              mode="multiple"
              placeholder="Choose one or more events"
              loading={catalog.loading}
              options={(catalog.data ?? []).map((type) => ({ value: type.name, label: type.name }))}
              optionFilterProp="label"
              allowClear
            />
          </Form.Item>
          <Form.Item label="Name" name="name" rules={[{ max: 200, message: 'Keep the name to 200 characters' }]}>
            <Input placeholder="What this webhook is for (optional)" autoComplete="off" />
          </Form.Item>
          <div className="form-row">
            <Form.Item label="Method" name="method">
              <Select options={METHODS.map((method) => ({ value: method, label: method }))} />
            </Form.Item>
            <Form.Item label="Content type" name="contentType" rules={CONTENT_TYPE_RULES}>
              <Input autoComplete="off" spellCheck={false} />
            </Form.Item>
          </div>
          <div className="form-row">
            <Form.Item label="Max attempts" name="maxAttempts" rules={MAX_ATTEMPTS_RULES}>
              <InputNumber style={{ width: '100%' }} inputMode="numeric" />
            </Form.Item>
            <Form.Item label="Active" name="active" valuePropName="checked">
              <Switch />
            </Form.Item>
          </div>
        </div>
        <div hidden={step !== 1}>
          <Collapse
            activeKey={panels}
            onChange={(keys) => setPanels(keys as Panel[])}
            expandIcon={({ isActive }) => <RightOutlined aria-hidden rotate={isActive ? 90 : 0} />}
            items={[
              {
                key: 'ca',
                label: 'Certificate authority',
                forceRender: true,
                children: (
                  <>
                    <Typography.Paragraph type="secondary">
                      The CA that signed the target&apos;s certificate, when it is not a public one. Herald then
                      trusts this CA (and only it) for this webhook, and still checks the host name.
                    </Typography.Paragraph>
                    <Form.Item label="CA certificate (PEM)" name="caPem" rules={CA_RULES}>
                      <Input.TextArea
                        rows={6}
                        placeholder={'-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----'}
                        spellCheck={false}
                        className="mono"
                      />
                    </Form.Item>
                    <Upload
                      accept=".pem,.crt,.cer,application/x-pem-file"
                      showUploadList={false}
                      beforeUpload={(file) => {
                        void readPem(file);
                        return Upload.LIST_IGNORE;
                      }}
                    >
                      <Button icon={<UploadOutlined aria-hidden />}>Upload PEM file</Button>
                    </Upload>
                  </>
                ),
              },
              {
                key: 'proxy',
                label: 'Proxy',
                forceRender: true,
                children: (
                  <>
                    <Typography.Paragraph type="secondary">
                      Send this webhook&apos;s requests through an HTTP proxy (https targets through a CONNECT
                      tunnel). A password in it is never shown again.
                    </Typography.Paragraph>
                    <Form.Item label="Proxy URL" name="proxyUrl" rules={PROXY_RULES}>
                      <Input placeholder="http://proxy.internal:3128" autoComplete="off" spellCheck={false} />
                    </Form.Item>
                  </>
                ),
              },
            ]}
          />
        </div>
        {/* Enter in a field submits the form: to the next step, or saves on the last one. */}
        <button type="submit" hidden aria-hidden tabIndex={-1} />
      </Form>
    </Modal>
  );
}

function describeAddScope(target: WebhookModalTarget): string {
  if (target.mode !== 'add') return '';
  const { scope } = target;
  return describeScope({
    scope: scope.kind,
    tenantId: scope.tenantId.trim() || null,
    projectId: scope.projectId.trim() || null,
  });
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const URL_RULES: Rule[] = [
  { required: true, whitespace: true, message: 'Enter the URL Herald should call' },
  {
    validator: async (_rule, value: string) => {
      if (!isHttpUrl(value)) throw new Error('Enter an http:// or https:// URL');
    },
  },
];

const SECRET_RULES: Rule[] = [
  {
    validator: async (_rule, value: string | undefined) => {
      if (value && value.length < MIN_SECRET_LENGTH) {
        throw new Error(`The secret needs at least ${MIN_SECRET_LENGTH} characters`);
      }
      if (value && value.length > 1024) throw new Error('The secret may have at most 1024 characters');
    },
  },
];

const CONTENT_TYPE_RULES: Rule[] = [
  {
    validator: async (_rule, value: string | undefined) => {
      if (value && value.trim() !== '' && !CONTENT_TYPE.test(value.trim())) {
        throw new Error('Enter a media type such as application/json');
      }
    },
  },
];

const MAX_ATTEMPTS_RULES: Rule[] = [
  {
    validator: async (_rule, value: number | null | undefined) => {
      if (value === null || value === undefined || !Number.isInteger(value) || value < 1 || value > MAX_ATTEMPTS_LIMIT) {
        throw new Error(`Enter a whole number from 1 to ${MAX_ATTEMPTS_LIMIT}`);
      }
    },
  },
];

const CA_RULES: Rule[] = [
  {
    validator: async (_rule, value: string | undefined) => {
      if (value && value.trim() !== '' && !looksLikePemCertificate(value)) {
        throw new Error('Paste a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)');
      }
    },
  },
];

const PROXY_RULES: Rule[] = [
  {
    validator: async (_rule, value: string | undefined) => {
      if (value && value.trim() !== '' && !isHttpUrl(value)) throw new Error('Enter an http:// or https:// proxy URL');
    },
  },
];
