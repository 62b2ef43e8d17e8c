import { Alert, Button, Input, Modal, Radio, Spin, Typography } from 'antd';
import { useMemo, useState } from 'react';
import type { Webhook } from './api';
import { countCreatedSince } from './failed-run';
import { formatDateTime, messageOf, plural } from './format';
import { useLoad } from './hooks';
import { useSignedIn } from './session';

type Period = 'hour' | 'day' | 'week' | 'custom';

const PERIODS: { value: Period; label: string; ms?: number }[] = [
  { value: 'hour', label: 'Last hour', ms: 3_600_000 },
  { value: 'day', label: 'Last 24 hours', ms: 86_400_000 },
  { value: 'week', label: 'Last 7 days', ms: 7 * 86_400_000 },
  { value: 'custom', label: 'Since a date and time' },
];

interface ResendFailedModalProps {
  webhook: Webhook;
  onClose(): void;
  /** How many deliveries Herald queued again, and from when. */
  onQueued(count: number, since: Date): void;
}

/**
 * Queues again every delivery of the webhook given up on since a time (among the 200 Herald
 * keeps). The count it shows first is read from the history; the one reported after is Herald's.
 */
export function ResendFailedModal({ webhook, onClose, onQueued }: ResendFailedModalProps) {
  const { api } = useSignedIn();
  const [period, setPeriod] = useState<Period>('day');
  // Opened at a fixed moment, so "last hour" means the same thing while the modal is open.
  const [openedAt] = useState(() => Date.now());
  const [custom, setCustom] = useState(() => toLocalInput(new Date(openedAt - 3_600_000)));
  const [saving, setSaving] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const failed = useLoad(() => api.listDeliveries(webhook.id, { status: 'error' }), `failed/${webhook.id}`);

  const since = useMemo(() => {
    const preset = PERIODS.find((option) => option.value === period)?.ms;
    if (preset !== undefined) return new Date(openedAt - preset);
    const date = new Date(custom);
    return custom === '' || Number.isNaN(date.getTime()) ? null : date;
  }, [period, custom, openedAt]);
  const customProblem =
    period !== 'custom' ? null : since === null ? 'Enter a date and time' : since.getTime() > Date.now() ? 'A time in the past' : null;
  const count = since && failed.data ? countCreatedSince(failed.data, since) : null;

  const resend = async () => {
    if (since === null || customProblem) return;
    setSaving(true);
    setProblem(null);
    try {
      const answer = await api.resendFailed(webhook.id, since);
      onQueued(answer.deliveries, since);
    } catch (error) {
      setProblem(`The failed deliveries could not be queued again: ${messageOf(error)}`);
      setSaving(false);
    }
  };

  return (
    <Modal
      open
      title="Resend failed deliveries"
      onCancel={onClose}
      footer={[
        <Button key="cancel" onClick={onClose} disabled={saving}>
          Cancel
        </Button>,
        <Button
          key="resend"
          type="primary"
          onClick={resend}
          loading={saving}
          disabled={since === null || customProblem !== null}
          aria-label="Resend the failed deliveries"
        >
          Resend
        </Button>,
      ]}
    >
      <Typography.Paragraph>
        Every delivery Herald gave up on since the time you pick is sent again as a new delivery, oldest first, and
        retried as usual.
      </Typography.Paragraph>
      <fieldset className="plain-fieldset block-gap">
        <legend id="resend-since-legend">Failed since</legend>
        <Radio.Group
          value={period}
          onChange={(event) => setPeriod(event.target.value as Period)}
          aria-labelledby="resend-since-legend"
          className="period-options"
          options={PERIODS.map(({ value, label }) => ({ value, label }))}
        />
      </fieldset>
      {period === 'custom' && (
        <div className="toolbar-field block-gap custom-since">
          <label htmlFor="resend-since-custom">Date and time</label>
          <Input
            id="resend-since-custom"
            type="datetime-local"
            value={custom}
            max={toLocalInput(new Date())}
            onChange={(event) => setCustom(event.target.value)}
            status={customProblem ? 'error' : undefined}
            aria-invalid={customProblem !== null}
            aria-describedby={customProblem ? 'resend-since-custom-help' : undefined}
            className="datetime-input"
          />
          {customProblem && (
            <span id="resend-since-custom-help" className="field-help-error">
              {customProblem}
            </span>
          )}
        </div>
      )}
      <div className="block-gap" role="status" aria-live="polite">
        {failed.loading ? (
          <span className="loading-line">
            <Spin size="small" /> Counting the failed deliveries…
          </span>
        ) : failed.error ? (
          <Alert type="warning" showIcon title={`The history could not be read to count them: ${failed.error.message}`} />
        ) : count !== null && since !== null ? (
          <Typography.Text>
            {count === 0
              ? `No failed delivery in the history since ${formatDateTime(since.toISOString())}.`
              : `${plural(count, 'failed delivery', 'failed deliveries')} in the history since ${formatDateTime(since.toISOString())}.`}
          </Typography.Text>
        ) : null}
      </div>
      {!webhook.active && (
        <Alert
          type="info"
          showIcon
          className="block-gap"
          title="The webhook is inactive: the deliveries wait and go out once it is enabled again."
        />
      )}
      {problem && <Alert type="error" showIcon title={problem} />}
    </Modal>
  );
}

/** A date as a `datetime-local` field holds it: local time, to the minute. */
function toLocalInput(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
