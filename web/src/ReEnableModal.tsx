import { Alert, Button, Checkbox, Modal, Spin, Typography } from 'antd';
import { useState } from 'react';
import type { Webhook } from './api';
import { findFailedRun, isAutoDisabled } from './failed-run';
import { formatDateTime, messageOf, plural } from './format';
import { useLoad } from './hooks';
import { useSignedIn } from './session';
import { DisabledExplanation } from './WebhookStatus';

interface ReEnableModalProps {
  webhook: Webhook;
  onClose(): void;
  /** The webhook as enabled, and how many failed deliveries were queued again with it. */
  onEnabled(webhook: Webhook, resent: number): void;
}

/**
 * Sets an inactive webhook active again. For one Herald disabled, it offers to resend the
 * deliveries given up on in the run of failures that disabled it. Those are queued first: while
 * the webhook is inactive they wait, and they go out as soon as it is enabled, so none is sent
 * to a webhook that stayed disabled because enabling failed.
 */
export function ReEnableModal({ webhook, onClose, onEnabled }: ReEnableModalProps) {
  const { api } = useSignedIn();
  const automatic = isAutoDisabled(webhook);
  const run = useLoad(async () => (automatic ? findFailedRun(api, webhook) : null), `failed-run/${webhook.id}`);
  const [resend, setResend] = useState(false);
  const [saving, setSaving] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  // Deliveries already queued again by an attempt whose enabling failed: not queued twice.
  const [alreadyResent, setAlreadyResent] = useState<number | null>(null);
  const title = automatic ? 'Re-enable webhook' : 'Enable webhook';

  const enable = async () => {
    setSaving(true);
    setProblem(null);
    let resent = alreadyResent ?? 0;
    try {
      if (resend && run.data && alreadyResent === null) {
        resent = (await api.resendFailed(webhook.id, run.data.since)).deliveries;
        setAlreadyResent(resent);
      }
    } catch (error) {
      setProblem(`The failed deliveries could not be queued again, so the webhook was left disabled: ${messageOf(error)}`);
      setSaving(false);
      return;
    }
    try {
      const enabled = await api.updateWebhook(webhook.id, { active: true });
      onEnabled(enabled, resent);
    } catch (error) {
      setProblem(
        resent > 0
          ? `${plural(resent, 'failed delivery was', 'failed deliveries were')} queued again and wait, but the webhook could not be enabled: ${messageOf(error)}`
          : `The webhook could not be enabled: ${messageOf(error)}`,
      );
      setSaving(false);
    }
  };

  return (
    <Modal
      open
      title={title}
      onCancel={onClose}
      footer={[
        <Button key="cancel" onClick={onClose} disabled={saving}>
          Cancel
        </Button>,
        <Button key="enable" type="primary" onClick={enable} loading={saving} disabled={automatic && run.loading}>
          {title}
        </Button>,
      ]}
    >
      <Typography.Paragraph>
        Herald sends{' '}
        <Typography.Text strong className="break-anywhere">
          {webhook.url}
        </Typography.Text>{' '}
        new events again at once, and the deliveries queued while it was inactive go out.
      </Typography.Paragraph>
      {automatic && (
        <Alert type="warning" showIcon className="block-gap" title={<DisabledExplanation webhook={webhook} />} />
      )}
      {automatic && run.loading && (
        <div className="loading-line" role="status">
          <Spin size="small" /> Looking for the deliveries that failed…
        </div>
      )}
      {automatic && run.error && (
        <Alert
          type="warning"
          showIcon
          className="block-gap"
          title={`The event history could not be read, so failed deliveries cannot be resent from here: ${run.error.message}`}
        />
      )}
      {automatic && !run.loading && !run.error && (
        run.data ? (
          <Checkbox
            checked={resend || alreadyResent !== null}
            disabled={saving || alreadyResent !== null}
            onChange={(event) => setResend(event.target.checked)}
            aria-describedby="re-enable-resend-help"
          >
            Also resend the {plural(run.data.count, 'delivery', 'deliveries')} that failed since{' '}
            {formatDateTime(run.data.since.toISOString())}
          </Checkbox>
        ) : (
          <Typography.Paragraph type="secondary">No failed delivery is left in the history to resend.</Typography.Paragraph>
        )
      )}
      {automatic && run.data && (
        <Typography.Paragraph type="secondary" id="re-enable-resend-help" className="small-note checkbox-help">
          Each goes out again as a new delivery with the same event, retried as usual.
        </Typography.Paragraph>
      )}
      {problem && <Alert type="error" showIcon title={problem} />}
    </Modal>
  );
}
